import { toIso } from '../../shared/clock.js';
import { forbidden, unauthorized } from '../../shared/errors.js';
import type { AuthPrincipal } from '../authenticate.js';
import type { AuthContext } from '../context.js';
import { ADMINS_LOCK } from './accounts.js';
import { adminView } from './admin.js';
import type { SecondFactor } from './second-factor.js';
import type { UsageReport } from './usage.js';

/** GDPR rights of the signed-in user: export everything stored about them, delete it all. */
export function createGdpr(ctx: AuthContext, secondFactor: SecondFactor, usageReport: UsageReport) {
  const { storage, users, sessions, audit } = ctx;

  // Under the admins lock, with the account read inside: the last admin can never be deleted.
  const deleteTx = (userId: string) =>
    storage.transaction({ durable: true, locks: [ADMINS_LOCK, ...ctx.orgData.deleteLocks] }, async (tx): Promise<boolean> => {
      const user = await users.get(tx, userId);
      if (!user) return false;
      if (user.role === 'admin' && !user.suspended && (await users.countActiveAdmins(tx)) <= 1) {
        throw forbidden('Cannot delete the only admin account');
      }
      await ctx.orgData.deleteOf(tx, user.id);
      await ctx.outbox.removeForUser(tx, user.id, user.email);
      await audit.anonymiseUser(tx, user.id);
      // Sessions, TOTP, reset tokens, usage, subscription, API keys and enrollment tokens cascade with the row.
      await users.delete(tx, user.id);
      await audit.record(tx, { action: 'account.delete', details: { subjectDeleted: true } });
      return true;
    });

  return {
    async deleteAccount(principal: AuthPrincipal, password: string): Promise<void> {
      const { user } = principal;
      const budget = await secondFactor.guardFailures('delete-account', user.id);
      if (!(await ctx.hasher.verify(password, user.passwordHash))) {
        await budget.fail();
        throw unauthorized('Invalid password');
      }
      if (!(await deleteTx(user.id))) throw unauthorized('Invalid or expired token');
      await ctx.failures.clear(storage, `delete-account:${user.id}`);
    },

    async exportData(principal: AuthPrincipal, ip: string) {
      const { user } = principal;
      const now = ctx.clock.now();
      await audit.recordNow({ action: 'data.export', actorId: user.id, targetId: user.id, ip });
      // Expired rows are shown with their past expiry; an idled-out row's expiry would
      // still look live, so it goes now, as it would at the next sweep.
      await sessions.removeIdle(user.id);
      const subscription = await ctx.subscriptions.get(user.id);
      const sessionRows = await sessions.listAll(user.id);
      const knownAddresses = await ctx.knownAddresses.listAll(user.id);
      const usage = await usageReport.history(user.id, user.tier);
      const enrollTokens = await ctx.enrollTokens.listAll(user.id);
      const auditLog = await audit.aboutUser(user.id);
      const orgData = await ctx.orgData.exportOf(user.id);
      return {
        exportedAt: toIso(now),
        user: { ...adminView(user), updatedAt: user.updatedAt },
        sessions: sessionRows.map(({ id, userId, createdAt, lastUsedAt, expiresAt, ip: sessionIp, userAgent }) => ({
          id,
          userId,
          createdAt,
          lastUsedAt,
          expiresAt,
          ip: sessionIp,
          userAgent,
        })),
        knownAddresses,
        subscription: subscription
          ? { status: subscription.status, variantId: subscription.variantId, renewsAt: subscription.renewsAt, endsAt: subscription.endsAt, updatedAt: subscription.updatedAt }
          : null,
        usage,
        apiKeys: (await ctx.apiKeys.listByOwner(user.id)).map((k) => ({ id: k.id, name: k.name, prefix: k.prefix, scopes: k.scopes, createdAt: k.createdAt, revokedAt: k.revokedAt })),
        enrollTokens,
        auditLog,
        ...orgData,
      };
    },
  };
}
export type Gdpr = ReturnType<typeof createGdpr>;
