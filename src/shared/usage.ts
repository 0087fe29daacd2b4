import type { Db } from './db/open.js';
import { UNLIMITED } from './tiers.js';

/**
 * Usage counters recorded by the server itself (never by clients): monthly `api_calls`
 * and `reports`, keyed by user and period (`YYYY-MM`).
 */
export function createUsageStore(db: Db) {
  const consumeLimited = db.prepare<[string, string, string, number], { count: number }>(
    `INSERT INTO usage_counters (user_id, resource, period, count) VALUES (?, ?, ?, 1)
     ON CONFLICT (user_id, resource, period) DO UPDATE SET count = usage_counters.count + 1 WHERE usage_counters.count < ?
     RETURNING count`,
  );
  const consumeUnlimited = db.prepare<[string, string, string], { count: number }>(
    `INSERT INTO usage_counters (user_id, resource, period, count) VALUES (?, ?, ?, 1)
     ON CONFLICT (user_id, resource, period) DO UPDATE SET count = usage_counters.count + 1
     RETURNING count`,
  );
  const current = db.prepare<[string, string, string], { count: number }>(
    `SELECT count FROM usage_counters WHERE user_id = ? AND resource = ? AND period = ?`,
  );

  return {
    /**
     * Counts one use if the limit allows it, in one statement so concurrent requests can
     * never overshoot; returns false (and counts nothing) once the limit is reached.
     */
    consume(userId: string, resource: string, period: string, limit: number): boolean {
      if (limit === UNLIMITED) return consumeUnlimited.get(userId, resource, period) !== undefined;
      if (limit <= 0) return false;
      return consumeLimited.get(userId, resource, period, limit) !== undefined;
    },
    current(userId: string, resource: string, period: string): number {
      return current.get(userId, resource, period)?.count ?? 0;
    },
  };
}
export type UsageStore = ReturnType<typeof createUsageStore>;
