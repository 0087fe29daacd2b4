import { defineStatement, type Queryable } from '../../shared/db/storage.js';

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

const TRAP_STATEMENTS = {
  addEvent: defineStatement<[id: string, trapId: string, honeypotType: string, attackerIocId: string, interactions: number, credentials: number, payloads: number, reporterId: string, at: string]>(
    `INSERT INTO trap_events (id, trap_id, honeypot_type, attacker_ioc_id, interactions, credentials, payloads, reporter_id, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ),
  countCredential: defineStatement<{ trapId: string; usernameHash: string; at: string }>(
    `INSERT INTO trap_credentials (trap_id, username_hash, attempts, last_seen) VALUES (@trapId, @usernameHash, 1, @at)
     ON CONFLICT (trap_id, username_hash) DO UPDATE SET attempts = trap_credentials.attempts + 1, last_seen = @at`,
  ),
};

/** Honeypot observations and the usernames tried against each trap (as digests, never in clear); written in the caller's transaction. */
export function createTrapIntelStore() {
  return {
    async addEvent(q: Queryable, event: TrapEvent): Promise<void> {
      await q.run(TRAP_STATEMENTS.addEvent, [
        event.id, event.trapId, event.honeypotType, event.attackerIocId,
        event.interactions, event.credentials, event.payloads, event.reporterId, event.at,
      ]);
    },
    async countCredential(q: Queryable, trapId: string, usernameHash: string, at: string): Promise<void> {
      await q.run(TRAP_STATEMENTS.countCredential, { trapId, usernameHash, at });
    },
  };
}
export type TrapIntelStore = ReturnType<typeof createTrapIntelStore>;
