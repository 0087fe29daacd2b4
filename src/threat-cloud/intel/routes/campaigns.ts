import type { App } from '../../../shared/base-app.js';
import { ok, paged, pagedReplies, replies } from '../../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../../context.js';
import { CampaignDetailSchema, CampaignItem, CampaignListQuery, CampaignParams, CampaignStatsSchema } from '../schemas.js';

/** GET /api/campaigns, /api/campaigns/stats and /api/campaigns/:id (scope read); reads audited as `query`. */
export function registerCampaignRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'campaigns'>): void {
  const { campaigns } = context;

  app.get(
    '/api/campaigns',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'listCampaigns', tags: ['campaigns'], summary: 'List campaigns, most recently active first', security: BEARER, querystring: CampaignListQuery, response: pagedReplies(CampaignItem) },
    },
    async (request) => {
      const { page = 1, limit = 20, status, since } = request.query;
      const { items, total } = await campaigns.list({ status, since, page, limit }, actor(request));
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/campaigns/stats',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'getCampaignStats', tags: ['campaigns'], summary: 'Campaign statistics', security: BEARER, response: replies(CampaignStatsSchema) },
    },
    async (request) => ok(await campaigns.stats(actor(request))),
  );

  app.get(
    '/api/campaigns/:id',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'getCampaign', tags: ['campaigns'], summary: 'One campaign with members, timeline, geography and advice', security: BEARER, params: CampaignParams, response: replies(CampaignDetailSchema) },
    },
    async (request) => ok(await campaigns.detail(request.params.id, actor(request))),
  );
}
