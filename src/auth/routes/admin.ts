import type { App } from '../../shared/base-app.js';
import { toIso } from '../../shared/clock.js';
import { ok, paged, pagedReplies, replies } from '../../shared/envelope.js';
import { notFound } from '../../shared/errors.js';
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
import type { AuthServices } from './services.js';

const bearer = [{ bearer: [] }];
const DAY_MS = 24 * 60 * 60 * 1000;

/** Administration; the caller's context requires role `admin`. */
export function registerAdminRoutes(app: App, { ctx, admin, secondFactor, usageReport }: AuthServices): void {
  app.get(
    '/api/admin/users',
    { schema: { operationId: 'adminListUsers', tags: ['admin'], summary: 'Accounts, searchable by e-mail or name prefix', security: bearer, querystring: AdminUsersQuery, response: pagedReplies(AdminUser) } },
    async (request) => {
      const { q, role, tier, page = 1, limit = 50 } = request.query;
      const { items, total } = ctx.users.search({ q: q?.trim().toLowerCase() || undefined, role, tier, limit, offset: (page - 1) * limit });
      return paged(items.map(adminView), total, page, limit);
    },
  );

  app.get(
    '/api/admin/users/:id',
    { schema: { operationId: 'adminGetUser', tags: ['admin'], summary: 'One account with subscription, usage, sessions, 2FA and recent audit', security: bearer, params: IdParams, response: replies(AdminUserDetail) } },
    async (request) => {
      const user = ctx.users.get(request.params.id);
      if (!user) throw notFound('User not found');
      const subscription = ctx.subscriptions.get(user.id);
      return ok({
        user: adminView(user),
        subscription: subscription
          ? { status: subscription.status, variantId: subscription.variantId, renewsAt: subscription.renewsAt, endsAt: subscription.endsAt, updatedAt: subscription.updatedAt }
          : null,
        usage: usageReport.history(user.id, user.tier),
        sessions: ctx.sessions.listLive(user.id).map(({ id, userId, createdAt, lastUsedAt, expiresAt, ip, userAgent }) => ({ id, userId, createdAt, lastUsedAt, expiresAt, ip, userAgent })),
        totp: secondFactor.status(user),
        recentAudit: ctx.audit.aboutUser(user.id, 10),
      });
    },
  );

  app.patch(
    '/api/admin/users/:id',
    { schema: { operationId: 'adminUpdateUser', tags: ['admin'], summary: 'Change role, tier, plan expiry or suspension', security: bearer, params: IdParams, body: AdminUserPatch, response: replies(AdminUser) } },
    async (request) => {
      const updated = admin.updateUser(principal(request).user, request.params.id, request.body, request.ip);
      return ok(adminView(updated));
    },
  );

  app.get(
    '/api/admin/sessions',
    { schema: { operationId: 'adminListSessions', tags: ['admin'], summary: 'Live sessions of all accounts', security: bearer, querystring: SessionsQuery, response: pagedReplies(AdminSession) } },
    async (request) => {
      const { page = 1, limit = 50 } = request.query;
      const { items, total } = ctx.sessions.pageLive(limit, (page - 1) * limit);
      return paged(
        items.map(({ id, userId, createdAt, lastUsedAt, expiresAt, ip, userAgent }) => ({ id, userId, createdAt, lastUsedAt, expiresAt, ip, userAgent })),
        total,
        page,
        limit,
      );
    },
  );

  app.delete(
    '/api/admin/sessions/:id',
    { schema: { operationId: 'adminRevokeSession', tags: ['admin'], summary: 'Revoke any session', security: bearer, params: IdParams, response: replies(Revoked) } },
    async (request) => {
      admin.revokeSession(principal(request).user, request.params.id, request.ip);
      return ok({ revoked: true as const });
    },
  );

  app.get(
    '/api/admin/audit-log',
    { schema: { operationId: 'adminListAuditLog', tags: ['admin'], summary: 'The audit trail, newest first', security: bearer, querystring: AuditQuery, response: pagedReplies(AuditEntry) } },
    async (request) => {
      const { action, actorId, since, until, page = 1, limit = 50 } = request.query;
      const { items, total } = ctx.audit.page({
        action,
        actorId,
        since: since ? toIso(Date.parse(since)) : undefined,
        until: until ? toIso(Date.parse(until)) : undefined,
        limit,
        offset: (page - 1) * limit,
      });
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/admin/stats',
    { schema: { operationId: 'adminGetStats', tags: ['admin'], summary: 'Accounts by tier, role and signup day; sessions; 2FA adoption', security: bearer, response: replies(Stats) } },
    async () => {
      const now = ctx.clock.now();
      const since = toIso(Date.parse(toIso(now - 29 * DAY_MS).slice(0, 10)));
      const stats = ctx.users.stats(since);
      const total = ctx.users.count();
      const signups = new Map(stats.signups.map((s) => [s.day, s.n]));
      const signupsByDay = Array.from({ length: 30 }, (_, i) => {
        const day = toIso(now - (29 - i) * DAY_MS).slice(0, 10);
        return { day, count: signups.get(day) ?? 0 };
      });
      return ok({
        users: { total, byTier: stats.byTier, byRole: stats.byRole, signupsByDay },
        liveSessions: ctx.sessions.countLive(),
        twoFactor: { enabled: stats.totpEnabled, percentage: total === 0 ? 0 : Math.round((stats.totpEnabled / total) * 10_000) / 100 },
      });
    },
  );
}
