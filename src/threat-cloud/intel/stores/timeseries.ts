import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import { defineStatement, type Queryable } from '../../../shared/db/storage.js';
import { PERIOD_MS, bucketStart, bucketStarts, type Granularity, type Period } from '../periods.js';

/**
 * Bucket start of an ISO timestamp column, as the same ISO string JavaScript makes. Weeks are
 * folded from days in JavaScript (at most 91 rows): the week start needs date arithmetic,
 * which SQLite and PostgreSQL spell differently.
 */
const BUCKET_SQL: Record<'hour' | 'day', (column: string) => string> = {
  hour: (column) => `substr(${column}, 1, 13) || ':00:00.000Z'`,
  day: (column) => `substr(${column}, 1, 10) || 'T00:00:00.000Z'`,
};

/**
 * IoCs that count as threats in analytics: allow-listed and revoked ones are false positives.
 * Written as NOT IN so the planner never drives a query from the status index (every active
 * IoC) instead of the time range.
 */
export const counted = (alias = '') => `${alias}status NOT IN ('whitelisted', 'revoked')`;

type Filter = {
  from: string;
  to: string;
  type: string | null;
  category: string | null;
};

export interface Timeseries {
  granularity: Granularity;
  period: Period;
  series: Array<{ timestamp: string; newIocs: number; sightings: number }>;
}

// From the hourly roll-up (migration 6): buckets are whole hours, days or weeks, so summing
// the hours from the first bucket's start to now counts exactly what the raw rows would.
const bucketCounts = (granularity: 'hour' | 'day') =>
  defineStatement<Filter, { bucket: string; newIocs: number; sightings: number }>(
    `SELECT ${BUCKET_SQL[granularity]('hour')} AS bucket, sum(new_iocs) AS "newIocs", sum(sightings) AS sightings FROM intel_hourly
     WHERE hour >= substr(@from, 1, 13) AND hour <= substr(@to, 1, 13)
       AND (CAST(@type AS TEXT) IS NULL OR type = @type) AND (CAST(@category AS TEXT) IS NULL OR category = @category)
     GROUP BY bucket`,
  );
const BUCKET_COUNTS = { hour: bucketCounts('hour'), day: bucketCounts('day') };

/** New IoCs (by first report) and reports per UTC hour, day or ISO week, every bucket present. */
export function createTimeseriesQuery(storage: Queryable, clock: Clock) {
  async function countsByBucket(granularity: Granularity, filter: Filter): Promise<Map<string, { newIocs: number; sightings: number }>> {
    const rows = await storage.all(BUCKET_COUNTS[granularity === 'hour' ? 'hour' : 'day'], filter);
    const counts = new Map<string, { newIocs: number; sightings: number }>();
    for (const row of rows) {
      const bucket = granularity === 'week' ? toIso(bucketStart(Date.parse(row.bucket), 'week')) : row.bucket;
      const sum = counts.get(bucket) ?? { newIocs: 0, sightings: 0 };
      sum.newIocs += row.newIocs;
      sum.sightings += row.sightings;
      counts.set(bucket, sum);
    }
    return counts;
  }

  return async (query: { granularity: Granularity; period: Period; type?: string; category?: string }): Promise<Timeseries> => {
    const now = clock.now();
    const first = bucketStart(now - PERIOD_MS[query.period], query.granularity);
    const filter: Filter = { from: toIso(first), to: toIso(now), type: query.type ?? null, category: query.category ?? null };
    const counts = await countsByBucket(query.granularity, filter);
    return {
      granularity: query.granularity,
      period: query.period,
      series: bucketStarts(first, now, query.granularity).map((start) => {
        const timestamp = toIso(start);
        const row = counts.get(timestamp);
        return { timestamp, newIocs: row?.newIocs ?? 0, sightings: row?.sightings ?? 0 };
      }),
    };
  };
}
