import type { Clock } from '../../shared/clock.js';
import { defineStatement, type Queryable, type Storage } from '../../shared/db/storage.js';

const GET = defineStatement<[key: string, now: number], { count: number; window_ends: number }>(
  `SELECT count, window_ends FROM auth_failures WHERE key = ? AND window_ends > ?`,
);
const BUMP = defineStatement<{ key: string; now: number; windowMs: number }, { count: number }>(
  `INSERT INTO auth_failures (key, count, window_ends) VALUES (@key, 1, CAST(@now AS BIGINT) + CAST(@windowMs AS BIGINT))
     ON CONFLICT (key) DO UPDATE SET
       count = CASE WHEN auth_failures.window_ends > @now THEN auth_failures.count + 1 ELSE 1 END,
       window_ends = CASE WHEN auth_failures.window_ends > @now THEN auth_failures.window_ends ELSE CAST(@now AS BIGINT) + CAST(@windowMs AS BIGINT) END
     RETURNING count`,
);
const CLEAR = defineStatement<[key: string]>(`DELETE FROM auth_failures WHERE key = ?`);
const PURGE = defineStatement<[now: number, limit: number]>(`DELETE FROM auth_failures WHERE key IN (SELECT key FROM auth_failures WHERE window_ends <= ? LIMIT ?)`);

/**
 * Failure counters in fixed windows that start at the first failure (account lockout,
 * TOTP guessing). Kept in the database so a restart does not hand an attacker a fresh budget.
 */
export function createFailureStore(storage: Storage, clock: Clock) {
  return {
    /** Seconds until the key may try again when it reached `limit` failures, else 0. */
    async blockedFor(key: string, limit: number): Promise<number> {
      const now = clock.now();
      const row = await storage.get(GET, [key, now]);
      return row && row.count >= limit ? Math.max(1, Math.ceil((row.window_ends - now) / 1000)) : 0;
    },
    /** Counts one failure; returns the failures in the current window, this one included. */
    async record(key: string, windowMs: number): Promise<number> {
      return (await storage.get(BUMP, { key, now: clock.now(), windowMs }))!.count;
    },
    async clear(q: Queryable, key: string): Promise<void> {
      await q.run(CLEAR, [key]);
    },
    /** Up to `limit` closed windows: one slice of the hourly sweep. */
    async purgeExpired(limit: number): Promise<number> {
      return (await storage.run(PURGE, [clock.now(), limit])).changes;
    },
  };
}
export type FailureStore = ReturnType<typeof createFailureStore>;
