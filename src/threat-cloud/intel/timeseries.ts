import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { PERIOD_MS, bucketStart, bucketStarts, type Granularity, type Period } from './periods.js';

/** Bucket start of an ISO timestamp column, as the same ISO string JavaScript makes. */
const BUCKET_SQL: Record<Granularity, (column: string) => string> = {
  hour: (column) => `substr(${column}, 1, 13) || ':00:00.000Z'`,
  day: (column) => `substr(${column}, 1, 10) || 'T00:00:00.000Z'`,
  // ISO weeks start on Monday: step back 6 days, then forward to the next Monday.
  week: (column) => `date(substr(${column}, 1, 10), '-6 days', 'weekday 1') || 'T00:00:00.000Z'`,
};

/**
 * IoCs that count as threats in analytics: allow-listed and revoked ones are false positives.
 * Written as NOT IN so the planner never drives a query from the status index (every active
 * IoC) instead of the time range.
 */
export const counted = (alias = '') => `${alias}status NOT IN ('whitelisted', 'revoked')`;

interface Filter {
  from: string;
  to: string;
  type: string | null;
  category: string | null;
}

export interface Timeseries {
  granularity: Granularity;
  period: Period;
  series: Array<{ timestamp: string; newIocs: number; sightings: number }>;
}

/** New IoCs (by first report) and reports per UTC hour, day or ISO week, every bucket present. */
export function createTimeseriesQuery(db: Db, clock: Clock) {
  const prepare = (granularity: Granularity) => ({
    newIocs: db.prepare<Filter, { bucket: string; n: number }>(
      `SELECT ${BUCKET_SQL[granularity]('first_seen')} AS bucket, count(*) AS n FROM iocs
       WHERE first_seen >= @from AND first_seen <= @to AND ${counted()}
         AND (@type IS NULL OR type = @type) AND (@category IS NULL OR category = @category)
       GROUP BY bucket`,
    ),
    sightings: db.prepare<Filter, { bucket: string; n: number }>(
      `SELECT ${BUCKET_SQL[granularity]('s.created_at')} AS bucket, count(*) AS n
       FROM sightings s JOIN iocs i ON i.id = s.ioc_id
       WHERE s.created_at >= @from AND s.created_at <= @to AND ${counted('i.')}
         AND (@type IS NULL OR i.type = @type) AND (@category IS NULL OR i.category = @category)
       GROUP BY bucket`,
    ),
  });
  const statements = { hour: prepare('hour'), day: prepare('day'), week: prepare('week') };

  return (query: { granularity: Granularity; period: Period; type?: string; category?: string }): Timeseries => {
    const now = clock.now();
    const first = bucketStart(now - PERIOD_MS[query.period], query.granularity);
    const filter: Filter = { from: toIso(first), to: toIso(now), type: query.type ?? null, category: query.category ?? null };
    const { newIocs, sightings } = statements[query.granularity];
    const iocCounts = new Map(newIocs.all(filter).map((row) => [row.bucket, row.n]));
    const sightingCounts = new Map(sightings.all(filter).map((row) => [row.bucket, row.n]));
    return {
      granularity: query.granularity,
      period: query.period,
      series: bucketStarts(first, now, query.granularity).map((start) => {
        const timestamp = toIso(start);
        return { timestamp, newIocs: iocCounts.get(timestamp) ?? 0, sightings: sightingCounts.get(timestamp) ?? 0 };
      }),
    };
  };
}
