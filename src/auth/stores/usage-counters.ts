import { defineStatement, type Storage } from '../../shared/db/storage.js';

export interface UsageCounterRow {
  resource: string;
  period: string;
  count: number;
}

const COUNTERS_OF = defineStatement<[userId: string], UsageCounterRow>(
  `SELECT resource, period, count FROM usage_counters WHERE user_id = ? ORDER BY period DESC, resource`,
);

/**
 * Reads a user's rows of `usage_counters` for export and the admin view; the counting
 * itself lives in the shared usage store, which every service writes through.
 */
export function createUsageCounterStore(storage: Storage) {
  return {
    /** Every counter of the user, newest period first. */
    listOf(userId: string): Promise<UsageCounterRow[]> {
      return storage.all(COUNTERS_OF, [userId]);
    },
  };
}
export type UsageCounterStore = ReturnType<typeof createUsageCounterStore>;
