import type { App } from '../../../shared/base-app.js';
import { ok, paged, pagedReplies, replies } from '../../../shared/envelope.js';
import { notFound } from '../../../shared/errors.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../../context.js';
import type { CampaignQueries } from '../stores/campaign-queries.js';
import type { AggregateMemo } from '../stores/memo.js';
import { CampaignDetailSchema, CampaignItem, CampaignListQuery, CampaignParams, CampaignStatsSchema } from '../schemas.js';

/** GET /api/campaigns, /api/campaigns/stats and /api/campaigns/:id (scope read); reads audited as `query`. */
export function registerCampaignRoutes(app: App, context: ThreatCloudContext, campaigns: CampaignQueries, memo: AggregateMemo): void {
  const { queryAudit } = context;

  app.get(
    '/api/campaigns',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'listCampaigns', tags: ['campaigns'], summary: 'List campaigns, most recently active first', security: BEARER, querystring: CampaignListQuery, response: pagedReplies(CampaignItem) },
    },
    async (request) => {
      const { page = 1, limit = 20, status, since } = request.query;
      const { items, total } = campaigns.list({ status, since, page, limit });
      queryAudit.push({ resource: 'campaigns', details: { status, since, page, limit }, ...actor(request) });
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/campaigns/stats',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'getCampaignStats', tags: ['campaigns'], summary: 'Campaign statistics', security: BEARER, response: replies(CampaignStatsSchema) },
    },
    async (request) => {
      queryAudit.push({ resource: 'campaigns/stats', details: {}, ...actor(request) });
      return ok(memo('campaign-stats', {}, () => campaigns.stats()));
    },
  );

  app.get(
    '/api/campaigns/:id',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'getCampaign', tags: ['campaigns'], summary: 'One campaign with members, timeline, geography and advice', security: BEARER, params: CampaignParams, response: replies(CampaignDetailSchema) },
    },
    async (request) => {
      const detail = campaigns.detail(request.params.id);
      queryAudit.push({ resource: 'campaign', details: { id: request.params.id, found: detail !== null }, ...actor(request) });
      if (!detail) throw notFound('Campaign not found');
      return ok(detail);
    },
  );
}
