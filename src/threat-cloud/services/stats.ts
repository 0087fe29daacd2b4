import type { AuditActor } from '../stores/audit.js';
import type { StatsStore } from '../stores/stats.js';
import type { QueryAuditBuffer } from './query-audit.js';

/** GET /api/stats: the totals, the read audited as `query`. */
export function createStatsService(deps: { stats: StatsStore; queryAudit: QueryAuditBuffer }) {
  const { stats, queryAudit } = deps;
  return {
    read(actor: AuditActor) {
      queryAudit.push({ resource: 'stats', details: {}, ...actor });
      return stats.read();
    },
  };
}
export type StatsService = ReturnType<typeof createStatsService>;
