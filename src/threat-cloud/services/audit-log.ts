import type { AuditAction, AuditStore } from '../stores/audit.js';
import type { QueryAuditBuffer } from './query-audit.js';

/** GET /api/audit-log: the trail, newest first. */
export function createAuditLogService(deps: { audit: AuditStore; queryAudit: QueryAuditBuffer }) {
  const { audit, queryAudit } = deps;
  return {
    async list(filter: { action?: AuditAction; since?: string; page: number; limit: number }) {
      // Pending query audits are written first so the trail is complete up to this request.
      await queryAudit.flush();
      return await audit.list(filter);
    },
  };
}
export type AuditLogService = ReturnType<typeof createAuditLogService>;
