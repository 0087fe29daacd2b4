import type { App } from '../../../shared/base-app.js';
import { ok, replies } from '../../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../../context.js';
import { GeoQuery, GeoSchema, HeatmapQuery, HeatmapSchema, TimeseriesQuery, TimeseriesSchema, TrendsQuery, TrendsSchema } from '../schemas.js';

/** The /api/query/* analytics: scope read and tier solo or higher; reads audited as `query`. */
export function registerQueryRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'analytics'>): void {
  const { analytics } = context;
  const base = apiRoute(context, 'read');
  const gated = { ...base, config: { ...base.config, tcMinTier: 'solo' as const } };

  app.get(
    '/api/query/timeseries',
    {
      ...gated,
      schema: { operationId: 'getTimeseries', tags: ['analytics'], summary: 'New IoCs and reports per hour, day or ISO week', security: BEARER, querystring: TimeseriesQuery, response: replies(TimeseriesSchema) },
    },
    async (request) => ok(await analytics.timeseries(request.query, actor(request))),
  );

  app.get(
    '/api/query/geo',
    {
      ...gated,
      schema: { operationId: 'getGeoDistribution', tags: ['analytics'], summary: 'IoCs by source country', security: BEARER, querystring: GeoQuery, response: replies(GeoSchema) },
    },
    async (request) => ok(await analytics.geo(request.query, actor(request))),
  );

  app.get(
    '/api/query/trends',
    {
      ...gated,
      schema: { operationId: 'getTrends', tags: ['analytics'], summary: 'Category report rates against the previous period, and emerging IoCs', security: BEARER, querystring: TrendsQuery, response: replies(TrendsSchema) },
    },
    async (request) => ok(await analytics.trends(request.query, actor(request))),
  );

  app.get(
    '/api/query/mitre-heatmap',
    {
      ...gated,
      schema: { operationId: 'getMitreHeatmap', tags: ['analytics'], summary: 'IoCs per MITRE ATT&CK technique and tactic', security: BEARER, querystring: HeatmapQuery, response: replies(HeatmapSchema) },
    },
    async (request) => ok(await analytics.heatmap(request.query, actor(request))),
  );
}
