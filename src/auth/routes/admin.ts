import type { App } from '../../shared/base-app.js';
import { ok, paged, pagedReplies, replies } from '../../shared/envelope.js';
import { principal } from '../authenticate.js';
import {
  AdminSession,
  AdminUser,
  AdminUserDetail,
  AdminUserPatch,
  AdminUsersQuery,
  AuditEntry,
  AuditQuery,
  IdParams,
  Revoked,
  SessionsQuery,
  Stats,
} from '../schemas.js';
import { adminView } from '../services/admin.js';
import type { AuthServices } from '../services/index.js';
import { BEARER } from '../../shared/openapi-responses.js';


/** Administration; the caller's context requires role `admin`. */
export function registerAdminRoutes(app: App, { admin }: AuthServices): void {
  app.get(
    '/api/admin/users',
    { schema: { operationId: 'adminListUsers', tags: ['admin'], summary: 'Accounts, searchable by e-mail or name prefix', security: BEARER, querystring: AdminUsersQuery, response: pagedReplies(AdminUser) } },
    async (request) => {
      const { q, role, tier, page = 1, limit = 50 } = request.query;
      const { items, total } = await admin.listUsers({ q, role, tier, limit, offset: (page - 1) * limit });
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/admin/users/:id',
    { schema: { operationId: 'adminGetUser', tags: ['admin'], summary: 'One account with subscription, usage, sessions, 2FA and recent audit', security: BEARER, params: IdParams, response: replies(AdminUserDetail) } },
    async (request) => ok(await admin.userDetail(request.params.id)),
  );

  app.patch(
    '/api/admin/users/:id',
    { schema: { operationId: 'adminUpdateUser', tags: ['admin'], summary: 'Change role, tier, plan expiry or suspension', security: BEARER, params: IdParams, body: AdminUserPatch, response: replies(AdminUser) } },
    async (request) => {
      const updated = await admin.updateUser(principal(request).user, request.params.id, request.body, request.ip);
      return ok(adminView(updated));
    },
  );

  app.get(
    '/api/admin/sessions',
    { schema: { operationId: 'adminListSessions', tags: ['admin'], summary: 'Live sessions of all accounts', security: BEARER, querystring: SessionsQuery, response: pagedReplies(AdminSession) } },
    async (request) => {
      const { page = 1, limit = 50 } = request.query;
      const { items, total } = await admin.listSessions({ limit, offset: (page - 1) * limit });
      return paged(items, total, page, limit);
    },
  );

  app.delete(
    '/api/admin/sessions/:id',
    { schema: { operationId: 'adminRevokeSession', tags: ['admin'], summary: 'Revoke any session', security: BEARER, params: IdParams, response: replies(Revoked) } },
    async (request) => {
      await admin.revokeSession(principal(request).user, request.params.id, request.ip);
      return ok({ revoked: true as const });
    },
  );

  app.get(
    '/api/admin/audit-log',
    { schema: { operationId: 'adminListAuditLog', tags: ['admin'], summary: 'The audit trail, newest first', security: BEARER, querystring: AuditQuery, response: pagedReplies(AuditEntry) } },
    async (request) => {
      const { action, actorId, since, until, page = 1, limit = 50 } = request.query;
      const { items, total } = await admin.auditLog({ action, actorId, since, until, limit, offset: (page - 1) * limit });
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/admin/stats',
    { schema: { operationId: 'adminGetStats', tags: ['admin'], summary: 'Accounts by tier, role and signup day; sessions; 2FA adoption', security: BEARER, response: replies(Stats) } },
    async () => ok(await admin.stats()),
  );
}
