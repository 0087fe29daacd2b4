import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Transaction, type Storage } from '../../shared/db/storage.js';

const VOID_OTHERS = defineStatement<[userId: string]>(`DELETE FROM password_reset_tokens WHERE user_id = ?`);
const INSERT = defineStatement<[tokenHash: string, userId: string, createdAt: string, expiresAt: string]>(
  `INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
);
const REDEEM = defineStatement<{ now: string; tokenHash: string }, { user_id: string }>(
  `UPDATE password_reset_tokens SET used_at = @now WHERE token_hash = @tokenHash AND used_at IS NULL AND expires_at > @now RETURNING user_id`,
);
// Expired tokens through their index, a bounded batch per statement; a used token goes
// when it expires (within the hour), as it can never be redeemed again meanwhile.
const PURGE = defineStatement<[now: string, limit: number]>(
  `DELETE FROM password_reset_tokens WHERE token_hash IN
       (SELECT token_hash FROM password_reset_tokens WHERE expires_at <= ? LIMIT ?)`,
);

/** Password-reset tokens, kept only as SHA-256 digests. */
export function createResetTokenStore(storage: Storage, clock: Clock) {
  return {
    /** Stores a new token for a user and voids the older ones, in the caller's durable transaction. */
    async issue(tx: Transaction, userId: string, tokenHash: string, ttlMs: number): Promise<void> {
      const now = clock.now();
      await tx.run(VOID_OTHERS, [userId]);
      await tx.run(INSERT, [tokenHash, userId, toIso(now), toIso(now + ttlMs)]);
    },
    /** Marks a live token used and returns its user; null when unknown, used or expired. */
    async redeem(tokenHash: string): Promise<string | null> {
      const now = toIso(clock.now());
      return (await storage.get(REDEEM, { now, tokenHash }))?.user_id ?? null;
    },
    /** Up to `limit` expired tokens: one slice of the hourly sweep. */
    async purge(limit: number): Promise<number> {
      return (await storage.run(PURGE, [toIso(clock.now()), limit])).changes;
    },
  };
}
export type ResetTokenStore = ReturnType<typeof createResetTokenStore>;
