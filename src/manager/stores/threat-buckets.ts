import type { Db } from '../../shared/db/open.js';
import { defineStatement, type Transaction, type Storage } from '../../shared/db/storage.js';
import { SEVERITIES, type Severity, type SummaryPeriod } from '../schemas.js';
import { WINDOW_SPANS } from './threat-windows.js';
import { MINUTE_MS } from '../../shared/time.js';

/** The kept buckets' width: every chart bucket below is a whole number of them, aligned in UTC. */
export const BUCKET_MS = 5 * MINUTE_MS;
/** Buckets older than the longest period (and its partial first bucket) answer nothing: the sweeper deletes them. */
export const BUCKETS_KEPT_MS = 31 * 24 * 60 * MINUTE_MS;

/** The chart bucket of each period: 12 to 31 points, each a whole number of kept buckets. */
export const SERIES_BUCKETS: Readonly<Record<SummaryPeriod, { name: string; ms: number }>> = {
  '1h': { name: '5m', ms: 5 * MINUTE_MS },
  '6h': { name: '15m', ms: 15 * MINUTE_MS },
  '24h': { name: '1h', ms: 60 * MINUTE_MS },
  '7d': { name: '6h', ms: 6 * 60 * MINUTE_MS },
  '30d': { name: '1d', ms: 24 * 60 * MINUTE_MS },
};

/** SQL of the kept bucket holding a time (epoch ms; floored, also before 1970). */
export const bucketOfSql = (ms: string) => `(${ms} - ((${ms} % ${BUCKET_MS}) + ${BUCKET_MS}) % ${BUCKET_MS})`;

const floorTo = (ms: number, size: number) => ms - (((ms % size) + size) % size);

export interface SeriesPoint {
  timestamp: string;
  total: number;
  low: number;
  medium: number;
  high: number;
  critical: number;
}

type SeverityRow = Record<Severity, number | null>;
type BucketDelta = { scope: string; bucketMs: number } & Record<Severity, number>;
type BucketRow = { bucket_ms: number } & Record<Severity, number>;

// Objects, not arrays (the port has no raw rows): up to 8,640 rows a read.
const ROWS = defineStatement<{ scope: string; fromMs: number }, BucketRow>(
  'SELECT bucket_ms, low, medium, high, critical FROM threat_buckets WHERE scope = @scope AND bucket_ms >= @fromMs ORDER BY bucket_ms',
);
const SUMS = SEVERITIES.map((s) => `sum(CASE WHEN severity = '${s}' THEN 1 ELSE 0 END) AS ${s}`).join(', ');
const EDGE_ALL = defineStatement<{ fromMs: number; toMs: number }, SeverityRow>(
  `SELECT ${SUMS} FROM threat_events INDEXED BY threat_events_severity_time
     WHERE severity IN ('low', 'medium', 'high', 'critical') AND timestamp_ms >= @fromMs AND timestamp_ms < @toMs`,
);
const EDGE_ORG = defineStatement<{ orgId: string; fromMs: number; toMs: number }, SeverityRow>(
  `SELECT ${SUMS} FROM threat_events INDEXED BY threat_events_org_time WHERE org_id = @orgId AND timestamp_ms >= @fromMs AND timestamp_ms < @toMs`,
);
const PRUNE = defineStatement<{ beforeMs: number; limit: number }>(`
    DELETE FROM threat_buckets WHERE (scope, bucket_ms) IN
      (SELECT scope, bucket_ms FROM threat_buckets INDEXED BY threat_buckets_age WHERE bucket_ms < @beforeMs ORDER BY bucket_ms LIMIT @limit)`);
const UPSERT = defineStatement<BucketDelta>(`
    INSERT INTO threat_buckets (scope, bucket_ms, low, medium, high, critical) VALUES (@scope, @bucketMs, @low, @medium, @high, @critical)
    ON CONFLICT (scope, bucket_ms) DO UPDATE SET low = threat_buckets.low + excluded.low, medium = threat_buckets.medium + excluded.medium, high = threat_buckets.high + excluded.high, critical = threat_buckets.critical + excluded.critical`);
const SUBTRACT_ORG = defineStatement<{ orgId: string }>(`
    UPDATE threat_buckets AS g SET low = g.low - o.low, medium = g.medium - o.medium, high = g.high - o.high, critical = g.critical - o.critical
    FROM (SELECT bucket_ms, low, medium, high, critical FROM threat_buckets WHERE scope = @orgId) AS o
    WHERE g.scope = '' AND g.bucket_ms = o.bucket_ms`);
const DROP_ORG = defineStatement<{ orgId: string }>('DELETE FROM threat_buckets WHERE scope = @orgId');

/** The columns of a threat event its bucket counts are made of. */
export interface BucketedEvent {
  org_id: string;
  severity: string;
  timestamp_ms: number;
}

/**
 * Threat events over time from the kept 5-minute buckets, per org and over every org (scope
 * ''). A batch of events adds to them in its own transaction, grouped (a 500-event batch of
 * the same few minutes is a handful of upserts; triggers, an upsert per event and scope,
 * doubled a batch's cost), and deleting an org's events takes its buckets out (`forgetOrg`),
 * so they are exact at every read.
 * A period counts the same events as its summary: those at or after `now − span`, with the
 * last bucket (the one holding `now`) open at the top as the summary is (events stamped up to
 * 5 minutes ahead). The first chart bucket starts before `now − span`: its kept buckets that
 * start at or after that time are read whole, and the events between `now − span` and the
 * first of them (less than 5 minutes of events) are counted on a covering index.
 * Cost: at most 8,640 bucket rows (30 days) plus those 5 minutes of events.
 */
export function createThreatBucketStore(storage: Storage) {
  return {
    /** Counts a batch of stored events; runs inside the batch's transaction. */
    async add(tx: Transaction, events: readonly BucketedEvent[]): Promise<void> {
      const deltas = new Map<string, BucketDelta>();
      for (const event of events) {
        const bucketMs = floorTo(event.timestamp_ms, BUCKET_MS);
        for (const scope of [event.org_id, '']) {
          const id = `${scope}\u0000${bucketMs}`;
          let delta = deltas.get(id);
          if (!delta) {
            delta = { scope, bucketMs, low: 0, medium: 0, high: 0, critical: 0 };
            deltas.set(id, delta);
          }
          delta[event.severity as Severity] += 1;
        }
      }
      for (const delta of deltas.values()) await tx.run(UPSERT, delta);
    },
    /** After an org's events are deleted (same transaction): its buckets go, and the fleet's lose them. */
    async forgetOrg(tx: Transaction, orgId: string): Promise<void> {
      await tx.run(SUBTRACT_ORG, { orgId });
      await tx.run(DROP_ORG, { orgId });
    },
    /** Every chart bucket of the period ending at `now`, oldest first, empty ones 0. */
    async series(period: SummaryPeriod, now: number, orgId?: string): Promise<{ bucket: string; series: SeriesPoint[] }> {
      const size = SERIES_BUCKETS[period];
      const fromMs = now - WINDOW_SPANS[period]!;
      const first = floorTo(fromMs, size.ms);
      const count = (floorTo(now, size.ms) - first) / size.ms + 1;
      const points: SeriesPoint[] = Array.from({ length: count }, (_, i) => ({
        timestamp: new Date(first + i * size.ms).toISOString(),
        total: 0,
        low: 0,
        medium: 0,
        high: 0,
        critical: 0,
      }));
      const addTo = (index: number, counts: Partial<SeverityRow>) => {
        const point = points[index]!;
        for (const severity of SEVERITIES) {
          const n = counts[severity] ?? 0;
          point[severity] += n;
          point.total += n;
        }
      };
      const keptFrom = floorTo(fromMs + BUCKET_MS - 1, BUCKET_MS);
      if (keptFrom > fromMs) {
        const params = { fromMs, toMs: keptFrom };
        addTo(0, (orgId === undefined ? await storage.get(EDGE_ALL, params) : await storage.get(EDGE_ORG, { ...params, orgId }))!);
      }
      for (const { bucket_ms: bucketMs, low, medium, high, critical } of await storage.all(ROWS, { scope: orgId ?? '', fromMs: keptFrom })) {
        const point = points[Math.min(Math.floor((bucketMs - first) / size.ms), count - 1)]!;
        point.low += low;
        point.medium += medium;
        point.high += high;
        point.critical += critical;
        point.total += low + medium + high + critical;
      }
      return { bucket: size.name, series: points };
    },
    /** Deletes up to `limit` buckets older than any period reaches; returns how many. */
    prune: async (now: number, limit: number) => (await storage.run(PRUNE, { beforeMs: now - BUCKETS_KEPT_MS, limit })).changes,
  };
}

export type ThreatBucketStore = ReturnType<typeof createThreatBucketStore>;

/** Recounts the buckets of the last 31 days from the events (migration 14, and after a bulk load). */
export function rebuildThreatBuckets(db: Db, now: number): void {
  const sums = SEVERITIES.map((s) => `sum(CASE WHEN severity = '${s}' THEN 1 ELSE 0 END) AS ${s}`).join(', ');
  db.exec('DELETE FROM threat_buckets');
  db.prepare(`
    WITH g AS MATERIALIZED (
      SELECT org_id, ${bucketOfSql('timestamp_ms')} AS bucket_ms, ${sums}
      FROM threat_events INDEXED BY threat_events_time WHERE timestamp_ms >= ? GROUP BY 1, 2)
    INSERT INTO threat_buckets (scope, bucket_ms, low, medium, high, critical)
    SELECT org_id, bucket_ms, low, medium, high, critical FROM g
    UNION ALL
    SELECT '', bucket_ms, sum(low), sum(medium), sum(high), sum(critical) FROM g GROUP BY bucket_ms`).run(now - BUCKETS_KEPT_MS);
}
