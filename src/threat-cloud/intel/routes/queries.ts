import type { App } from '../../../shared/base-app.js';
import { ok, replies } from '../../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../../context.js';
import type { createGeoQuery } from '../stores/geo.js';
import type { createHeatmapQuery } from '../stores/heatmap.js';
import type { AggregateMemo } from '../stores/memo.js';
import { GeoQuery, GeoSchema, HeatmapQuery, HeatmapSchema, TimeseriesQuery, TimeseriesSchema, TrendsQuery, TrendsSchema } from '../schemas.js';
import type { createTimeseriesQuery } from '../stores/timeseries.js';
import type { createTrendsQuery } from '../stores/trends.js';

export interface AnalyticsQueries {
  timeseries: ReturnType<typeof createTimeseriesQuery>;
  geo: ReturnType<typeof createGeoQuery>;
  trends: ReturnType<typeof createTrendsQuery>;
  heatmap: ReturnType<typeof createHeatmapQuery>;
}

/** The /api/query/* analytics: scope read and tier solo or higher; reads audited as `query`. */
export function registerQueryRoutes(app: App, context: ThreatCloudContext, memo: AggregateMemo, analytics: AnalyticsQueries): void {
  const base = apiRoute(context, 'read');
  const gated = { ...base, config: { ...base.config, tcMinTier: 'solo' as const } };
  const audit = (request: Parameters<typeof actor>[0], resource: string, details: Record<string, unknown>) =>
    context.queryAudit.push({ resource, details, ...actor(request) });

  app.get(
    '/api/query/timeseries',
    {
      ...gated,
      schema: { operationId: 'getTimeseries', tags: ['analytics'], summary: 'New IoCs and reports per hour, day or ISO week', security: BEARER, querystring: TimeseriesQuery, response: replies(TimeseriesSchema) },
    },
    async (request) => {
      const query = { ...request.query, granularity: request.query.granularity ?? 'day', period: request.query.period ?? '7d' };
      audit(request, 'query/timeseries', query);
      return ok(memo('timeseries', query, () => analytics.timeseries(query)));
    },
  );

  app.get(
    '/api/query/geo',
    {
      ...gated,
      schema: { operationId: 'getGeoDistribution', tags: ['analytics'], summary: 'IoCs by source country', security: BEARER, querystring: GeoQuery, response: replies(GeoSchema) },
    },
    async (request) => {
      const query = { ...request.query, period: request.query.period ?? '7d', limit: request.query.limit ?? 20 };
      audit(request, 'query/geo', query);
      return ok(memo('geo', query, () => analytics.geo(query)));
    },
  );

  app.get(
    '/api/query/trends',
    {
      ...gated,
      schema: { operationId: 'getTrends', tags: ['analytics'], summary: 'Category report rates against the previous period, and emerging IoCs', security: BEARER, querystring: TrendsQuery, response: replies(TrendsSchema) },
    },
    async (request) => {
      const query = { periodDays: request.query.periodDays ?? 7, minChange: request.query.minChange ?? 10 };
      audit(request, 'query/trends', query);
      return ok(memo('trends', query, () => analytics.trends(query)));
    },
  );

  app.get(
    '/api/query/mitre-heatmap',
    {
      ...gated,
      schema: { operationId: 'getMitreHeatmap', tags: ['analytics'], summary: 'IoCs per MITRE ATT&CK technique and tactic', security: BEARER, querystring: HeatmapQuery, response: replies(HeatmapSchema) },
    },
    async (request) => {
      const query = { period: request.query.period ?? '7d' };
      audit(request, 'query/mitre-heatmap', query);
      return ok(memo('mitre-heatmap', query, () => analytics.heatmap(query)));
    },
  );
}
