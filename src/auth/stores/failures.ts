import type { Clock } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';

/**
 * Failure counters in fixed windows that start at the first failure (account lockout,
 * TOTP guessing). Kept in SQLite so a restart does not hand an attacker a fresh budget.
 */
export function createFailureStore(db: Db, clock: Clock) {
  const get = db.prepare<[string, number], { count: number; window_ends: number }>(
    `SELECT count, window_ends FROM auth_failures WHERE key = ? AND window_ends > ?`,
  );
  const bump = db.prepare(
    `INSERT INTO auth_failures (key, count, window_ends) VALUES (@key, 1, CAST(@now AS BIGINT) + CAST(@windowMs AS BIGINT))
     ON CONFLICT (key) DO UPDATE SET
       count = CASE WHEN auth_failures.window_ends > @now THEN auth_failures.count + 1 ELSE 1 END,
       window_ends = CASE WHEN auth_failures.window_ends > @now THEN auth_failures.window_ends ELSE CAST(@now AS BIGINT) + CAST(@windowMs AS BIGINT) END
     RETURNING count`,
  );
  const clear = db.prepare(`DELETE FROM auth_failures WHERE key = ?`);
  const purge = db.prepare(`DELETE FROM auth_failures WHERE key IN (SELECT key FROM auth_failures WHERE window_ends <= ? LIMIT ?)`);

  return {
    /** Seconds until the key may try again when it reached `limit` failures, else 0. */
    blockedFor(key: string, limit: number): number {
      const now = clock.now();
      const row = get.get(key, now);
      return row && row.count >= limit ? Math.max(1, Math.ceil((row.window_ends - now) / 1000)) : 0;
    },
    /** Counts one failure; returns the failures in the current window, this one included. */
    record(key: string, windowMs: number): number {
      return (bump.get({ key, now: clock.now(), windowMs }) as { count: number }).count;
    },
    clear(key: string): void {
      clear.run(key);
    },
    /** Up to `limit` closed windows: one slice of the hourly sweep. */
    purgeExpired(limit: number): number {
      return purge.run(clock.now(), limit).changes;
    },
  };
}
export type FailureStore = ReturnType<typeof createFailureStore>;
