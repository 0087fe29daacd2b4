import type { Clock } from './clock.js';
import { toIso } from './clock.js';
import { defineStatement, type Queryable, type Storage } from './db/storage.js';
import { matchesHash, sha256Hex } from './tokens.js';

/** Users' enrollment tokens look like `pge_` + 40 base62 characters. */
export const ENROLL_TOKEN_PREFIX = 'pge_';

/** A live enrollment token: it registers agents only into its owner's org (whose id is the owner's). */
export interface VerifiedEnrollToken {
  id: string;
  ownerUserId: string;
}

interface LiveRow {
  id: string;
  user_id: string;
  token_hash: string;
}

const LIVE = `t.revoked_at IS NULL AND t.expires_at > @now AND u.suspended = 0`;
const BY_HASH = defineStatement<{ hash: string; now: string }, LiveRow>(
  `SELECT t.id, t.user_id, t.token_hash FROM enroll_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = @hash AND ${LIVE}`,
);
const BY_ID = defineStatement<{ id: string; now: string }, LiveRow>(
  `SELECT t.id, t.user_id, t.token_hash FROM enroll_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = @id AND ${LIVE}`,
);
const RECORD_USE = defineStatement<{ id: string; now: string; added: number }>(
  `UPDATE enroll_tokens SET last_used_at = @now, agents_enrolled = agents_enrolled + @added WHERE id = @id`,
);

/**
 * The Manager's side of users' enrollment tokens (the Auth Server makes and revokes them):
 * a token is live while it is neither revoked nor expired and its owner exists and is not
 * suspended. Every check joins the owner, so suspension and deletion stop tokens at once.
 * What the registration's transaction does takes its handle first.
 */
export function createEnrollTokenVerifier(storage: Storage, clock: Clock) {
  const now = () => toIso(clock.now());
  const toVerified = (row: LiveRow): VerifiedEnrollToken => ({ id: row.id, ownerUserId: row.user_id });

  return {
    /** The live token this secret belongs to, or null (unknown, revoked, expired, owner suspended or gone). */
    async verify(secret: string): Promise<VerifiedEnrollToken | null> {
      if (!secret.startsWith(ENROLL_TOKEN_PREFIX)) return null;
      const row = await storage.get(BY_HASH, { hash: sha256Hex(secret), now: now() });
      // The lookup is by digest; the timing-safe compare guards against any index quirk.
      return row && matchesHash(secret, row.token_hash) ? toVerified(row) : null;
    },
    /** The same token checked again by id, inside the registration's transaction. */
    async stillLive(q: Queryable, id: string): Promise<VerifiedEnrollToken | null> {
      const row = await q.get(BY_ID, { id, now: now() });
      return row ? toVerified(row) : null;
    },
    /** A registration by this token: `newAgent` when it created an agent (re-registrations do not count). */
    async recordUse(q: Queryable, id: string, newAgent: boolean): Promise<void> {
      await q.run(RECORD_USE, { id, now: now(), added: newAgent ? 1 : 0 });
    },
  };
}
export type EnrollTokenVerifier = ReturnType<typeof createEnrollTokenVerifier>;
