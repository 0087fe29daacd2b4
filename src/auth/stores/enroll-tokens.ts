import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { ENROLL_TOKEN_PREFIX } from '../../shared/enroll-tokens.js';
import { newId, newSecretToken, sha256Hex } from '../../shared/tokens.js';

export interface EnrollTokenRecord {
  id: string;
  name: string;
  prefix: string;
  /** The org the token enrolls into: its owner's, whose id is the owner's user id. */
  orgId: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  agentsEnrolled: number;
}

interface EnrollTokenRow {
  id: string;
  user_id: string;
  name: string;
  prefix: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  agents_enrolled: number;
}

const COLUMNS = 'id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, agents_enrolled';

const toRecord = (row: EnrollTokenRow): EnrollTokenRecord => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  orgId: row.user_id,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
  agentsEnrolled: row.agents_enrolled,
});

/** Users' enrollment tokens as their owner manages them; only SHA-256 digests are stored. */
export function createEnrollTokenStore(db: Db, clock: Clock) {
  const insert = db.prepare(
    `INSERT INTO enroll_tokens (id, user_id, name, token_hash, prefix, created_at, expires_at)
     VALUES (@id, @userId, @name, @tokenHash, @prefix, @createdAt, @expiresAt)`,
  );
  const byId = db.prepare<[string], EnrollTokenRow>(`SELECT ${COLUMNS} FROM enroll_tokens WHERE id = ?`);
  const unrevoked = db.prepare<[string], EnrollTokenRow>(
    `SELECT ${COLUMNS} FROM enroll_tokens WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id`,
  );
  const all = db.prepare<[string], EnrollTokenRow>(`SELECT ${COLUMNS} FROM enroll_tokens WHERE user_id = ? ORDER BY created_at, id`);
  const countLive = db.prepare<[string, string], { n: number }>(
    `SELECT count(*) AS n FROM enroll_tokens WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
  );
  const revoke = db.prepare<[string, string, string]>(`UPDATE enroll_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`);

  return {
    /** Stores a token and returns its record with the secret, which is never readable again. */
    create(input: { userId: string; name: string; ttlMs: number }): { record: EnrollTokenRecord; token: string } {
      const token = newSecretToken(ENROLL_TOKEN_PREFIX);
      const id = newId('enr_');
      const now = clock.now();
      insert.run({
        id,
        userId: input.userId,
        name: input.name,
        tokenHash: sha256Hex(token),
        prefix: token.slice(0, 8),
        createdAt: toIso(now),
        expiresAt: toIso(now + input.ttlMs),
      });
      return { record: toRecord(byId.get(id)!), token };
    },
    /** Neither revoked nor expired: what the per-user limit counts. */
    countLive(userId: string): number {
      return countLive.get(userId, toIso(clock.now()))!.n;
    },
    /** Not revoked, expired ones included, so the owner sees them lapse and can remove them. */
    listUnrevoked(userId: string): EnrollTokenRecord[] {
      return unrevoked.all(userId).map(toRecord);
    },
    /** Every token the user made, revoked ones included (GDPR export). */
    listAll(userId: string): EnrollTokenRecord[] {
      return all.all(userId).map(toRecord);
    },
    /** Revokes one of the owner's tokens; false when there is no such unrevoked token. */
    revoke(id: string, userId: string): boolean {
      return revoke.run(toIso(clock.now()), id, userId).changes === 1;
    },
  };
}
export type EnrollTokenStore = ReturnType<typeof createEnrollTokenStore>;
