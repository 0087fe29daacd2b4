import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Queryable, type Storage } from '../../shared/db/storage.js';
import { DAY_MS } from '../../shared/time.js';

/**
 * Aggregates of GET /api/stats, none of which reads more than a day of index entries: counts
 * come from the trigger-kept `ioc_counts` and `tc_list_totals`, the last day's new IoCs and
 * reports from index ranges, and its top category from the hourly report counts
 * (`tc_report_hours`, migration 10) of the hours the day touches, so that one is counted per
 * whole hour (the last 24 to 25 hours).
 */
export const STATS_READS = {
  counts: defineStatement<void, { type: string; category: string; status: string; n: number }>(`SELECT type, category, status, n FROM ioc_counts WHERE n > 0`),
  totals: defineStatement<void, { name: string; n: number }>(`SELECT name, n FROM tc_list_totals`),
  newIocs: defineStatement<[since: string], { n: number }>(`SELECT count(*) AS n FROM iocs INDEXED BY iocs_first_seen WHERE first_seen > ?`),
  newSightings: defineStatement<[since: string], { n: number }>(
    `SELECT count(*) AS n FROM sightings INDEXED BY sightings_created_ioc WHERE created_at > ?`,
  ),
  topCategory: defineStatement<[fromHour: string], { category: string }>(
    `SELECT category FROM tc_report_hours WHERE hour >= ? AND category <> '' GROUP BY category HAVING sum(n) > 0
     ORDER BY sum(n) DESC, category LIMIT 1`,
  ),
};

export function createStatsStore(storage: Storage, clock: Clock) {
  const q = STATS_READS;
  return {
    async read() {
      const now = clock.now();
      const dayAgo = toIso(now - DAY_MS);
      const byType: Record<string, number> = {};
      const byCategory: Record<string, number> = {};
      let totalIocs = 0;
      let activeIocs = 0;
      for (const row of await storage.all(q.counts)) {
        totalIocs += row.n;
        if (row.status === 'active') activeIocs += row.n;
        byType[row.type] = (byType[row.type] ?? 0) + row.n;
        if (row.category) byCategory[row.category] = (byCategory[row.category] ?? 0) + row.n;
      }
      const kept = Object.fromEntries((await storage.all(q.totals)).map((row) => [row.name, row.n]));
      return {
        totalIocs,
        activeIocs,
        totalSightings: kept.reports ?? 0,
        totalSources: kept.sources ?? 0,
        byType,
        byCategory,
        last24h: {
          newIocs: (await storage.get(q.newIocs, [dayAgo]))!.n,
          newSightings: (await storage.get(q.newSightings, [dayAgo]))!.n,
          topCategory: (await storage.get(q.topCategory, [dayAgo.slice(0, 13)]))?.category ?? null,
        },
        updatedAt: toIso(now),
      };
    },
  };
}
export type StatsStore = ReturnType<typeof createStatsStore>;

/** IoCs by status from the trigger-kept counts (the `panguard_iocs` gauge): a scrape never scans the IoC table. */
const BY_STATUS = defineStatement<void, { status: string; n: number }>(`SELECT status, sum(n) AS n FROM ioc_counts GROUP BY status`);
/** Active IoCs from the trigger-kept counts, for the health check. */
const ACTIVE = defineStatement<void, { n: number }>(`SELECT coalesce(sum(n), 0) AS n FROM ioc_counts WHERE status = 'active'`);

export function createIocStatusCounts(storage: Storage): () => Promise<Record<string, number>> {
  return async () => Object.fromEntries((await storage.all(BY_STATUS)).map((row) => [row.status, row.n]));
}

export function createActiveIocCount(storage: Storage): (q?: Queryable) => Promise<number> {
  return async (q = storage) => (await q.get(ACTIVE))!.n;
}
