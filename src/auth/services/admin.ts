import { toIso } from '../../shared/clock.js';
import { badRequest, conflict, notFound } from '../../shared/errors.js';
import type { AuthContext } from '../context.js';
import type { AdminUserPatch } from '../schemas.js';
import type { AuditFilter } from '../stores/audit.js';
import type { SessionRecord } from '../stores/sessions.js';
import type { UserRecord, UserSearch } from '../stores/users.js';
import { ADMINS_LOCK } from './accounts.js';
import type { SecondFactor } from './second-factor.js';
import type { UsageReport } from './usage.js';
import { DAY_MS } from '../../shared/time.js';


export function adminView(user: UserRecord) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    tier: user.tier,
    suspended: user.suspended,
    totpEnabled: user.totpEnabled,
    createdAt: user.createdAt,
    lastLoginAt: user.lastLoginAt,
    planExpiresAt: user.planExpiresAt,
  };
}

/** A session as administrators see it: everything but the token hash. */
const sessionView = ({ id, userId, createdAt, lastUsedAt, expiresAt, ip, userAgent }: SessionRecord) => ({ id, userId, createdAt, lastUsedAt, expiresAt, ip, userAgent });


/**
 * Administration: accounts, sessions, the audit trail and statistics; changes to accounts
 * with the last-admin and self rules.
 */
export function createAdmin(ctx: AuthContext, { secondFactor, usageReport }: { secondFactor: SecondFactor; usageReport: UsageReport }) {
  const { storage, users, sessions, audit } = ctx;

  // Under the admins lock: two admins demoting each other cannot both succeed.
  const updateTx = (actor: UserRecord, targetId: string, patch: AdminUserPatch, ip: string) =>
    storage.transaction({ durable: true, locks: [ADMINS_LOCK] }, async (tx) => {
      const target = await users.get(tx, targetId);
      if (!target) throw notFound('User not found');
      const demotes = patch.role === 'user' && target.role === 'admin';
      const suspends = patch.suspended === true && !target.suspended;
      if ((demotes || suspends) && target.id === actor.id) throw conflict('You cannot suspend or demote yourself');
      // Counted inside the transaction, so two admins demoting each other cannot both succeed.
      if ((demotes || suspends) && target.role === 'admin' && !target.suspended && (await users.countActiveAdmins(tx)) <= 1) {
        throw conflict('Cannot demote or suspend the last admin');
      }
      await users.update(tx, target, patch);
      const roleChanged = patch.role !== undefined && patch.role !== target.role;
      // Role changes and suspension end every session at once; a tier change does not.
      const revoked = roleChanged || suspends ? await sessions.revokeAll(tx, target.id) : 0;
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      for (const field of ['role', 'tier', 'planExpiresAt', 'suspended'] as const) {
        if (patch[field] !== undefined && patch[field] !== target[field]) changes[field] = { from: target[field], to: patch[field] };
      }
      await audit.record(tx, { action: 'admin.user.update', actorId: actor.id, targetId: target.id, ip, details: { changes, sessionsRevoked: revoked } });
      return (await users.get(tx, target.id))!;
    });

  const revokeSessionTx = (actor: UserRecord, sessionId: string, ip: string) =>
    storage.transaction({ durable: true }, async (tx) => {
      if (!(await sessions.revoke(tx, sessionId))) throw notFound('Session not found');
      await audit.record(tx, { action: 'admin.session.revoke', actorId: actor.id, ip, details: { sessionId } });
    });

  return {
    async listUsers(filter: UserSearch) {
      const { items, total } = await users.search({ ...filter, q: filter.q?.trim().toLowerCase() || undefined });
      return { items: items.map(adminView), total };
    },

    /** One account with subscription, usage, sessions, 2FA and recent audit. */
    async userDetail(id: string) {
      const user = await users.get(storage, id);
      if (!user) throw notFound('User not found');
      const subscription = await ctx.subscriptions.get(user.id);
      return {
        user: adminView(user),
        subscription: subscription
          ? { status: subscription.status, variantId: subscription.variantId, renewsAt: subscription.renewsAt, endsAt: subscription.endsAt, updatedAt: subscription.updatedAt }
          : null,
        usage: await usageReport.history(user.id, user.tier),
        sessions: (await sessions.listLive(user.id)).map(sessionView),
        totp: await secondFactor.status(user),
        recentAudit: await audit.aboutUser(user.id, 10),
      };
    },

    async listSessions({ limit, offset }: { limit: number; offset: number }) {
      const { items, total } = await sessions.pageLive(limit, offset);
      return { items: items.map(sessionView), total };
    },

    /** A page of the audit trail; `since`/`until` are any ISO form, compared as stored. */
    auditLog(filter: AuditFilter) {
      return audit.page({
        ...filter,
        since: filter.since ? toIso(Date.parse(filter.since)) : undefined,
        until: filter.until ? toIso(Date.parse(filter.until)) : undefined,
      });
    },

    /** Accounts by tier, role and signup day (the last 30 days), live sessions, 2FA adoption. */
    async stats() {
      const now = ctx.clock.now();
      const since = toIso(Date.parse(toIso(now - 29 * DAY_MS).slice(0, 10)));
      const stats = await users.stats(since);
      const total = await users.count();
      const signups = new Map(stats.signups.map((s) => [s.day, s.n]));
      const signupsByDay = Array.from({ length: 30 }, (_, i) => {
        const day = toIso(now - (29 - i) * DAY_MS).slice(0, 10);
        return { day, count: signups.get(day) ?? 0 };
      });
      return {
        users: { total, byTier: stats.byTier, byRole: stats.byRole, signupsByDay },
        liveSessions: await sessions.countLive(),
        twoFactor: { enabled: stats.totpEnabled, percentage: total === 0 ? 0 : Math.round((stats.totpEnabled / total) * 10_000) / 100 },
      };
    },

    async updateUser(actor: UserRecord, targetId: string, patch: AdminUserPatch, ip: string): Promise<UserRecord> {
      // Unknown fields are stripped by validation; a body left with nothing to change is a 400.
      if (patch.role === undefined && patch.tier === undefined && patch.planExpiresAt === undefined && patch.suspended === undefined) {
        throw badRequest('Provide at least one of role, tier, planExpiresAt, suspended');
      }
      const normalised = { ...patch };
      if (typeof normalised.planExpiresAt === 'string') normalised.planExpiresAt = new Date(normalised.planExpiresAt).toISOString();
      return updateTx(actor, targetId, normalised, ip);
    },
    revokeSession(actor: UserRecord, sessionId: string, ip: string): Promise<void> {
      return revokeSessionTx(actor, sessionId, ip);
    },
  };
}
export type Admin = ReturnType<typeof createAdmin>;
