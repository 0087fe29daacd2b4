import { toIso } from '../../shared/clock.js';
import { durableTransaction } from '../../shared/db/durable.js';
import { forbidden, unauthorized } from '../../shared/errors.js';
import type { AuthPrincipal } from '../authenticate.js';
import type { AuthContext } from '../context.js';
import type { UserRecord } from '../stores/users.js';
import { adminView } from './admin.js';
import type { SecondFactor } from './second-factor.js';
import type { UsageReport } from './usage.js';

/** GDPR rights of the signed-in user: export everything stored about them, delete it all. */
export function createGdpr(ctx: AuthContext, secondFactor: SecondFactor, usageReport: UsageReport) {
  const { users, sessions, audit } = ctx;

  const deleteTx = durableTransaction(ctx.db, (user: UserRecord) => {
    if (user.role === 'admin' && !user.suspended && users.countActiveAdmins() <= 1) {
      throw forbidden('Cannot delete the only admin account');
    }
    ctx.orgData.deleteOf(user.id);
    ctx.outbox.removeForUser(user.id, user.email);
    audit.anonymiseUser(user.id);
    // Sessions, TOTP, reset tokens, usage, subscription, API keys and enrollment tokens cascade with the row.
    users.delete(user.id);
    audit.record({ action: 'account.delete', details: { subjectDeleted: true } });
  });

  return {
    async deleteAccount(principal: AuthPrincipal, password: string): Promise<void> {
      const { user } = principal;
      const budget = secondFactor.guardFailures('delete-account', user.id);
      if (!(await ctx.hasher.verify(password, user.passwordHash))) {
        budget.fail();
        throw unauthorized('Invalid password');
      }
      const current = users.get(user.id);
      if (!current) throw unauthorized('Invalid or expired token');
      deleteTx.immediate(current);
      ctx.failures.clear(`delete-account:${user.id}`);
    },

    exportData(principal: AuthPrincipal, ip: string) {
      const { user } = principal;
      const now = ctx.clock.now();
      audit.record({ action: 'data.export', actorId: user.id, targetId: user.id, ip });
      // Expired rows are shown with their past expiry; an idled-out row's expiry would
      // still look live, so it goes now, as it would at the next sweep.
      sessions.removeIdle(user.id);
      const subscription = ctx.subscriptions.get(user.id);
      return {
        exportedAt: toIso(now),
        user: { ...adminView(user), updatedAt: user.updatedAt },
        sessions: sessions.listAll(user.id).map(({ id, userId, createdAt, lastUsedAt, expiresAt, ip: sessionIp, userAgent }) => ({
          id,
          userId,
          createdAt,
          lastUsedAt,
          expiresAt,
          ip: sessionIp,
          userAgent,
        })),
        knownAddresses: ctx.knownAddresses.listAll(user.id),
        subscription: subscription
          ? { status: subscription.status, variantId: subscription.variantId, renewsAt: subscription.renewsAt, endsAt: subscription.endsAt, updatedAt: subscription.updatedAt }
          : null,
        usage: usageReport.history(user.id, user.tier),
        apiKeys: ctx.apiKeys.listByOwner(user.id).map((k) => ({ id: k.id, name: k.name, prefix: k.prefix, scopes: k.scopes, createdAt: k.createdAt, revokedAt: k.revokedAt })),
        enrollTokens: ctx.enrollTokens.listAll(user.id),
        auditLog: audit.aboutUser(user.id),
        ...ctx.orgData.exportOf(user.id),
      };
    },
  };
}
export type Gdpr = ReturnType<typeof createGdpr>;
