import type { AuditActor } from '../stores/audit.js';
import type { StatsStore } from '../stores/stats.js';
import type { QueryAuditBuffer } from './query-audit.js';

/** GET /api/stats: the totals, the read audited as `query`. */
export function createStatsService(deps: { stats: StatsStore; queryAudit: QueryAuditBuffer }) {
  const { stats, queryAudit } = deps;
  return {
    async read(actor: AuditActor) {
      queryAudit.push({ resource: 'stats', details: {}, ...actor });
      return await stats.read();
    },
  };
}
export type StatsService = ReturnType<typeof createStatsService>;
