import type { Static } from '@sinclair/typebox';
import type { QueryAuditBuffer } from '../../services/query-audit.js';
import type { AuditActor } from '../../stores/audit.js';
import type { GeoQuery, HeatmapQuery, TimeseriesQuery, TrendsQuery } from '../schemas.js';
import type { createGeoQuery } from '../stores/geo.js';
import type { createHeatmapQuery } from '../stores/heatmap.js';
import type { createTimeseriesQuery } from '../stores/timeseries.js';
import type { createTrendsQuery } from '../stores/trends.js';
import type { AggregateMemo } from './memo.js';

export interface AnalyticsQueries {
  timeseries: ReturnType<typeof createTimeseriesQuery>;
  geo: ReturnType<typeof createGeoQuery>;
  trends: ReturnType<typeof createTrendsQuery>;
  heatmap: ReturnType<typeof createHeatmapQuery>;
}

/**
 * The /api/query/* analytics: the query's defaults applied, the read audited as `query` with
 * them, and the answer memoised while the data is unchanged.
 */
export function createAnalyticsService(deps: { queries: AnalyticsQueries; memo: AggregateMemo; queryAudit: QueryAuditBuffer }) {
  const { queries, memo, queryAudit } = deps;
  const audit = (resource: string, details: Record<string, unknown>, actor: AuditActor) => queryAudit.push({ resource, details, ...actor });

  return {
    timeseries(asked: Static<typeof TimeseriesQuery>, actor: AuditActor) {
      const query = { ...asked, granularity: asked.granularity ?? 'day', period: asked.period ?? '7d' };
      audit('query/timeseries', query, actor);
      return memo('timeseries', query, () => queries.timeseries(query));
    },
    geo(asked: Static<typeof GeoQuery>, actor: AuditActor) {
      const query = { ...asked, period: asked.period ?? '7d', limit: asked.limit ?? 20 };
      audit('query/geo', query, actor);
      return memo('geo', query, () => queries.geo(query));
    },
    trends(asked: Static<typeof TrendsQuery>, actor: AuditActor) {
      const query = { periodDays: asked.periodDays ?? 7, minChange: asked.minChange ?? 10 };
      audit('query/trends', query, actor);
      return memo('trends', query, () => queries.trends(query));
    },
    heatmap(asked: Static<typeof HeatmapQuery>, actor: AuditActor) {
      const query = { period: asked.period ?? '7d' };
      audit('query/mitre-heatmap', query, actor);
      return memo('mitre-heatmap', query, () => queries.heatmap(query));
    },
  };
}
export type AnalyticsService = ReturnType<typeof createAnalyticsService>;
