import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { durableTransaction } from '../../shared/db/durable.js';

/** Password-reset tokens, kept only as SHA-256 digests. */
export function createResetTokenStore(db: Db, clock: Clock) {
  const voidOthers = db.prepare(`DELETE FROM password_reset_tokens WHERE user_id = ?`);
  const insert = db.prepare(`INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`);
  const redeem = db.prepare<[{ now: string; tokenHash: string }], { user_id: string }>(
    `UPDATE password_reset_tokens SET used_at = @now WHERE token_hash = @tokenHash AND used_at IS NULL AND expires_at > @now RETURNING user_id`,
  );
  // Expired tokens through their index, a bounded batch per statement; a used token goes
  // when it expires (within the hour), as it can never be redeemed again meanwhile.
  const purge = db.prepare(
    `DELETE FROM password_reset_tokens WHERE token_hash IN
       (SELECT token_hash FROM password_reset_tokens WHERE expires_at <= ? LIMIT ?)`,
  );

  return {
    /** Stores a new token for a user and voids the older ones (one transaction). */
    issue: durableTransaction(db, (userId: string, tokenHash: string, ttlMs: number) => {
      const now = clock.now();
      voidOthers.run(userId);
      insert.run(tokenHash, userId, toIso(now), toIso(now + ttlMs));
    }),
    /** Marks a live token used and returns its user; null when unknown, used or expired. */
    redeem(tokenHash: string): string | null {
      const now = toIso(clock.now());
      return redeem.get({ now, tokenHash })?.user_id ?? null;
    },
    /** Up to `limit` expired tokens: one slice of the hourly sweep. */
    purge(limit: number): number {
      return purge.run(toIso(clock.now()), limit).changes;
    },
  };
}
export type ResetTokenStore = ReturnType<typeof createResetTokenStore>;
