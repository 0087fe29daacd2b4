import type { Clock } from './clock.js';
import { toIso } from './clock.js';
import type { Db } from './db/open.js';
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

/**
 * The Manager's side of users' enrollment tokens (the Auth Server makes and revokes them):
 * a token is live while it is neither revoked nor expired and its owner exists and is not
 * suspended. Every check joins the owner, so suspension and deletion stop tokens at once.
 */
export function createEnrollTokenVerifier(db: Db, clock: Clock) {
  const LIVE = `t.revoked_at IS NULL AND t.expires_at > @now AND u.suspended = 0`;
  const byHash = db.prepare<{ hash: string; now: string }, LiveRow>(
    `SELECT t.id, t.user_id, t.token_hash FROM enroll_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = @hash AND ${LIVE}`,
  );
  const byId = db.prepare<{ id: string; now: string }, LiveRow>(
    `SELECT t.id, t.user_id, t.token_hash FROM enroll_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = @id AND ${LIVE}`,
  );
  const recordUse = db.prepare<{ id: string; now: string; added: number }>(
    `UPDATE enroll_tokens SET last_used_at = @now, agents_enrolled = agents_enrolled + @added WHERE id = @id`,
  );
  const now = () => toIso(clock.now());
  const toVerified = (row: LiveRow): VerifiedEnrollToken => ({ id: row.id, ownerUserId: row.user_id });

  return {
    /** The live token this secret belongs to, or null (unknown, revoked, expired, owner suspended or gone). */
    verify(secret: string): VerifiedEnrollToken | null {
      if (!secret.startsWith(ENROLL_TOKEN_PREFIX)) return null;
      const row = byHash.get({ hash: sha256Hex(secret), now: now() });
      // The lookup is by digest; the timing-safe compare guards against any index quirk.
      return row && matchesHash(secret, row.token_hash) ? toVerified(row) : null;
    },
    /** The same token checked again by id, inside the registration's transaction. */
    stillLive(id: string): VerifiedEnrollToken | null {
      const row = byId.get({ id, now: now() });
      return row ? toVerified(row) : null;
    },
    /** A registration by this token: `newAgent` when it created an agent (re-registrations do not count). */
    recordUse(id: string, newAgent: boolean): void {
      recordUse.run({ id, now: now(), added: newAgent ? 1 : 0 });
    },
  };
}
export type EnrollTokenVerifier = ReturnType<typeof createEnrollTokenVerifier>;
