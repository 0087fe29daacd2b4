import { notFound } from '../../../shared/errors.js';
import type { QueryAuditBuffer } from '../../services/query-audit.js';
import type { AuditActor } from '../../stores/audit.js';
import type { CampaignStatus } from '../stores/campaigns.js';
import type { CampaignDetail, CampaignQueries, CampaignStats } from '../stores/campaign-queries.js';
import type { AggregateMemo } from './memo.js';

/** The campaign reads of /api/campaigns*, each audited as `query`; the statistics memoised. */
export function createCampaignService(deps: { campaigns: CampaignQueries; memo: AggregateMemo; queryAudit: QueryAuditBuffer }) {
  const { campaigns, memo, queryAudit } = deps;
  return {
    async list(filter: { status?: CampaignStatus; since?: string; page: number; limit: number }, actor: AuditActor) {
      const result = await campaigns.list(filter);
      const { status, since, page, limit } = filter;
      queryAudit.push({ resource: 'campaigns', details: { status, since, page, limit }, ...actor });
      return result;
    },
    stats(actor: AuditActor): Promise<CampaignStats> {
      queryAudit.push({ resource: 'campaigns/stats', details: {}, ...actor });
      return memo('campaign-stats', {}, () => campaigns.stats());
    },
    /** One campaign; an unknown id (or a group below campaign size) is a 404, audited as not found. */
    async detail(id: string, actor: AuditActor): Promise<CampaignDetail> {
      const detail = await campaigns.detail(id);
      queryAudit.push({ resource: 'campaign', details: { id, found: detail !== null }, ...actor });
      if (!detail) throw notFound('Campaign not found');
      return detail;
    },
  };
}
export type CampaignService = ReturnType<typeof createCampaignService>;
