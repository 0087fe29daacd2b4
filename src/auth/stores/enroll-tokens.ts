import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Queryable, type Storage } from '../../shared/db/storage.js';
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

type NewEnrollToken = { id: string; userId: string; name: string; tokenHash: string; prefix: string; createdAt: string; expiresAt: string };
const INSERT = defineStatement<NewEnrollToken>(
  `INSERT INTO enroll_tokens (id, user_id, name, token_hash, prefix, created_at, expires_at)
     VALUES (@id, @userId, @name, @tokenHash, @prefix, @createdAt, @expiresAt)`,
);
const BY_ID = defineStatement<[id: string], EnrollTokenRow>(`SELECT ${COLUMNS} FROM enroll_tokens WHERE id = ?`);
const UNREVOKED = defineStatement<[userId: string], EnrollTokenRow>(
  `SELECT ${COLUMNS} FROM enroll_tokens WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id`,
);
const ALL = defineStatement<[userId: string], EnrollTokenRow>(`SELECT ${COLUMNS} FROM enroll_tokens WHERE user_id = ? ORDER BY created_at, id`);
const COUNT_LIVE = defineStatement<[userId: string, now: string], { n: number }>(
  `SELECT count(*) AS n FROM enroll_tokens WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
);
const REVOKE = defineStatement<[now: string, id: string, userId: string]>(`UPDATE enroll_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`);

/**
 * Users' enrollment tokens as their owner manages them; only SHA-256 digests are stored.
 * Methods a transaction needs take its handle first.
 */
export function createEnrollTokenStore(storage: Storage, clock: Clock) {
  return {
    /** Stores a token and returns its record with the secret, which is never readable again. */
    async create(q: Queryable, input: { userId: string; name: string; ttlMs: number }): Promise<{ record: EnrollTokenRecord; token: string }> {
      const token = newSecretToken(ENROLL_TOKEN_PREFIX);
      const id = newId('enr_');
      const now = clock.now();
      await q.run(INSERT, {
        id,
        userId: input.userId,
        name: input.name,
        tokenHash: sha256Hex(token),
        prefix: token.slice(0, 8),
        createdAt: toIso(now),
        expiresAt: toIso(now + input.ttlMs),
      });
      return { record: toRecord((await q.get(BY_ID, [id]))!), token };
    },
    /** Neither revoked nor expired: what the per-user limit counts. */
    async countLive(q: Queryable, userId: string): Promise<number> {
      return (await q.get(COUNT_LIVE, [userId, toIso(clock.now())]))!.n;
    },
    /** Not revoked, expired ones included, so the owner sees them lapse and can remove them. */
    async listUnrevoked(userId: string): Promise<EnrollTokenRecord[]> {
      return (await storage.all(UNREVOKED, [userId])).map(toRecord);
    },
    /** Every token the user made, revoked ones included (GDPR export). */
    async listAll(userId: string): Promise<EnrollTokenRecord[]> {
      return (await storage.all(ALL, [userId])).map(toRecord);
    },
    /** Revokes one of the owner's tokens; false when there is no such unrevoked token. */
    async revoke(q: Queryable, id: string, userId: string): Promise<boolean> {
      return (await q.run(REVOKE, [toIso(clock.now()), id, userId])).changes === 1;
    },
  };
}
export type EnrollTokenStore = ReturnType<typeof createEnrollTokenStore>;
