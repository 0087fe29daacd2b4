import type { Db } from '../../shared/db/open.js';

export interface UsageCounterRow {
  resource: string;
  period: string;
  count: number;
}

/**
 * Reads a user's rows of `usage_counters` for export and the admin view; the counting
 * itself lives in the shared usage store, which every service writes through.
 */
export function createUsageCounterStore(db: Db) {
  const countersOf = db.prepare<[string], UsageCounterRow>(
    `SELECT resource, period, count FROM usage_counters WHERE user_id = ? ORDER BY period DESC, resource`,
  );
  return {
    /** Every counter of the user, newest period first. */
    listOf(userId: string): UsageCounterRow[] {
      return countersOf.all(userId);
    },
  };
}
export type UsageCounterStore = ReturnType<typeof createUsageCounterStore>;
