import type { App } from '../../shared/base-app.js';
import { paged, pagedReplies } from '../../shared/envelope.js';
import { apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { AuditItem, AuditQuery } from '../schemas.js';

/** /api/audit-log: the audit trail (scope admin). */
export function registerAuditLogRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'auditLog'>): void {
  const { auditLog } = context;

  app.get(
    '/api/audit-log',
    {
      ...apiRoute(context, 'admin'),
      schema: { operationId: 'listAuditLog', tags: ['audit'], summary: 'Audit trail, newest first', security: BEARER, querystring: AuditQuery, response: pagedReplies(AuditItem) },
    },
    async (request) => {
      const { page = 1, limit = 50, action, since } = request.query;
      const { items, total } = await auditLog.list({ ...(action ? { action } : {}), ...(since ? { since } : {}), page, limit });
      return paged(items, total, page, limit);
    },
  );
}
