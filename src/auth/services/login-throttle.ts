import { tooManyRequests, type AppError } from '../../shared/errors.js';
import type { AuthContext } from '../context.js';
import type { UserRecord } from '../stores/users.js';
import { sendSecurityNotice } from './security-notices.js';

/**
 * The failure budgets of one sign-in attempt (an e-mail from an address): one per account
 * and address, one per account across all addresses. A failure counts against both, is
 * audited, and the failure that spends a budget tells the owner once.
 */
export function loginAttempt(ctx: AuthContext, email: string, user: UserRecord | null, ip: string) {
  const perIp = ctx.limits.loginFailuresPerAccountAndIp;
  const perAccount = ctx.limits.loginFailuresPerAccount;
  const ipKey = `login:${email}|${ip}`;
  const accountKey = `login:${email}`;

  return {
    /** The budget a full sign-in resets (in its own commit): the address's, not the account's. */
    ipKey,

    /** A 429 while a budget is spent. Checked before the password, so the answer is the same whether the password is right. */
    async assertAllowed(): Promise<void> {
      const ipBlock = await ctx.failures.blockedFor(ipKey, perIp.max);
      if (ipBlock > 0) throw tooManyRequests(ipBlock, perIp.max);
      // Many addresses together can reach the account-wide cap; the owner's known addresses
      // (full sign-ins in the last 30 days) stay under the per-account-and-IP rule only.
      const accountBlock = await ctx.failures.blockedFor(accountKey, perAccount.max);
      if (accountBlock > 0 && !(user && (await ctx.knownAddresses.isKnown(user.id, ip)))) throw tooManyRequests(accountBlock, perAccount.max);
    },

    /** Counts and audits a failed attempt, then rejects with `error`. */
    async fail(reason: string, error: AppError): Promise<never> {
      const ipFailures = await ctx.failures.record(ipKey, perIp.windowMs);
      const accountFailures = await ctx.failures.record(accountKey, perAccount.windowMs);
      await ctx.audit.recordNow({ action: 'login.failure', targetId: user?.id ?? null, ip, details: { reason } });
      // The failure that reaches a limit starts the lockout: the owner hears of it once.
      if (user && accountFailures === perAccount.max) {
        await sendSecurityNotice(ctx, user, { kind: 'login-locked-everywhere', failures: perAccount.max, minutes: perAccount.windowMs / 60_000 }, ip);
      } else if (user && ipFailures === perIp.max) {
        await sendSecurityNotice(ctx, user, { kind: 'login-locked-for-ip', failures: perIp.max, minutes: perIp.windowMs / 60_000 }, ip);
      }
      throw error;
    },
  };
}
