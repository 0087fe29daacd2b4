import type { Db } from '../../shared/db/open.js';

export interface TrapEvent {
  id: string;
  trapId: string;
  honeypotType: string;
  attackerIocId: string;
  interactions: number;
  credentials: number;
  payloads: number;
  reporterId: string;
  at: string;
}

/** Honeypot observations and the usernames tried against each trap (as digests, never in clear). */
export function createTrapIntelStore(db: Db) {
  const addEvent = db.prepare<[string, string, string, string, number, number, number, string, string]>(
    `INSERT INTO trap_events (id, trap_id, honeypot_type, attacker_ioc_id, interactions, credentials, payloads, reporter_id, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const countCredential = db.prepare<{ trapId: string; usernameHash: string; at: string }>(
    `INSERT INTO trap_credentials (trap_id, username_hash, attempts, last_seen) VALUES (@trapId, @usernameHash, 1, @at)
     ON CONFLICT (trap_id, username_hash) DO UPDATE SET attempts = trap_credentials.attempts + 1, last_seen = @at`,
  );

  return {
    addEvent(event: TrapEvent): void {
      addEvent.run(
        event.id, event.trapId, event.honeypotType, event.attackerIocId,
        event.interactions, event.credentials, event.payloads, event.reporterId, event.at,
      );
    },
    countCredential(trapId: string, usernameHash: string, at: string): void {
      countCredential.run({ trapId, usernameHash, at });
    },
  };
}
export type TrapIntelStore = ReturnType<typeof createTrapIntelStore>;
