import type { Clock } from '../shared/clock.js';
import { toIso } from '../shared/clock.js';
import type { Db } from '../shared/db/open.js';
import { DAY_MS } from './reputation.js';

/** Aggregates of GET /api/stats: counts come from the trigger-kept `ioc_counts`, the rest from indexes. */
export function createStatsStore(db: Db, clock: Clock) {
  const counts = db.prepare<[], { type: string; category: string; status: string; n: number }>(
    `SELECT type, category, status, n FROM ioc_counts WHERE n > 0`,
  );
  const totalSightings = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM sightings`);
  const totalSources = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM tc_sources`);
  const newIocs = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM iocs WHERE first_seen > ?`);
  const newSightings = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM sightings WHERE created_at > ?`);
  const topCategory = db.prepare<[string], { category: string }>(
    `SELECT i.category FROM sightings s JOIN iocs i ON i.id = s.ioc_id
     WHERE s.created_at > ? AND i.category IS NOT NULL
     GROUP BY i.category ORDER BY count(*) DESC, i.category LIMIT 1`,
  );

  return {
    read() {
      const now = clock.now();
      const dayAgo = toIso(now - DAY_MS);
      const byType: Record<string, number> = {};
      const byCategory: Record<string, number> = {};
      let totalIocs = 0;
      let activeIocs = 0;
      for (const row of counts.all()) {
        totalIocs += row.n;
        if (row.status === 'active') activeIocs += row.n;
        byType[row.type] = (byType[row.type] ?? 0) + row.n;
        if (row.category) byCategory[row.category] = (byCategory[row.category] ?? 0) + row.n;
      }
      return {
        totalIocs,
        activeIocs,
        totalSightings: totalSightings.get()!.n,
        totalSources: totalSources.get()!.n,
        byType,
        byCategory,
        last24h: {
          newIocs: newIocs.get(dayAgo)!.n,
          newSightings: newSightings.get(dayAgo)!.n,
          topCategory: topCategory.get(dayAgo)?.category ?? null,
        },
        updatedAt: toIso(now),
      };
    },
  };
}
