import { defineStatement, type Queryable, type Storage } from './db/storage.js';
import { UNLIMITED } from './tiers.js';

const CONSUME_LIMITED = defineStatement<[userId: string, resource: string, period: string, limit: number], { count: number }>(
  `INSERT INTO usage_counters (user_id, resource, period, count) VALUES (?, ?, ?, 1)
     ON CONFLICT (user_id, resource, period) DO UPDATE SET count = usage_counters.count + 1 WHERE usage_counters.count < ?
     RETURNING count`,
);
const CONSUME_UNLIMITED = defineStatement<[userId: string, resource: string, period: string], { count: number }>(
  `INSERT INTO usage_counters (user_id, resource, period, count) VALUES (?, ?, ?, 1)
     ON CONFLICT (user_id, resource, period) DO UPDATE SET count = usage_counters.count + 1
     RETURNING count`,
);
const CURRENT = defineStatement<[userId: string, resource: string, period: string], { count: number }>(
  `SELECT count FROM usage_counters WHERE user_id = ? AND resource = ? AND period = ?`,
);

/**
 * Usage counters recorded by the server itself (never by clients): monthly `api_calls`
 * and `reports`, keyed by user and period (`YYYY-MM`).
 */
export function createUsageStore(storage: Storage) {
  return {
    /**
     * Counts one use if the limit allows it, in one statement so concurrent requests can
     * never overshoot; answers false (and counts nothing) once the limit is reached. Takes
     * the transaction whose work the use belongs to, or the storage for a use of its own.
     */
    async consume(q: Queryable, userId: string, resource: string, period: string, limit: number): Promise<boolean> {
      if (limit === UNLIMITED) return (await q.get(CONSUME_UNLIMITED, [userId, resource, period])) !== undefined;
      if (limit <= 0) return false;
      return (await q.get(CONSUME_LIMITED, [userId, resource, period, limit])) !== undefined;
    },
    async current(userId: string, resource: string, period: string): Promise<number> {
      return (await storage.get(CURRENT, [userId, resource, period]))?.count ?? 0;
    },
  };
}
export type UsageStore = ReturnType<typeof createUsageStore>;
