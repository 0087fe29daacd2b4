import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { toIso } from '../../shared/clock.js';
import { AppError, badRequest, forbidden, unauthorized } from '../../shared/errors.js';
import { lockedOut } from '../stores/failures.js';
import { sha256Hex } from '../../shared/tokens.js';
import { SESSION_TTL_MS, type AuthPrincipal, type TokenIssuer } from '../authenticate.js';
import type { AuthContext } from '../context.js';
import { duplicateRegistrationMail, resetPasswordMail } from '../mail/templates.js';
import { NOTICE_TTL_MS, sendSecurityNotice } from '../mail/notices.js';
import type { UserRecord } from '../stores/users.js';
import { adminView } from './admin.js';
import { assertAtMostOneCode, type SecondFactor } from './second-factor.js';
import { COMMON_PASSWORD_MESSAGE, isCommonPassword } from '../common-passwords.js';
import type { UsageReport } from './usage.js';
import { durableTransaction } from '../../shared/db/durable.js';

export const REGISTER_MESSAGE = 'If this email can be registered, the account has been created.';
export const FORGOT_MESSAGE = 'If an account with that email exists, a reset link has been sent.';
export const INVALID_CREDENTIALS = 'Invalid email or password';
export const RESET_TOKEN_INVALID = 'Reset token is invalid or has expired';
const RESET_TOKEN_TTL_MS = 60 * 60 * 1000;

export interface ClientMeta {
  ip: string;
  userAgent: string | null;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms: the only place a first admin may come from. */
function refuseCommonPassword(password: string): void {
  if (isCommonPassword(password)) throw badRequest(COMMON_PASSWORD_MESSAGE, 'COMMON_PASSWORD');
}

export function isLoopback(ip: string): boolean {
  const plain = ip.toLowerCase().startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1' || plain === '0:0:0:0:0:0:0:1';
}

export type LoginOutcome =
  | { kind: 'second-factor-required' }
  | { kind: 'signed-in'; user: UserRecord; token: string; expiresAt: string };

/** Registration, login, passwords and account deletion: the rules of the contract. */
export function createAccounts(ctx: AuthContext, tokens: TokenIssuer, secondFactor: SecondFactor, usageReport: UsageReport) {
  const { users, sessions, audit, failures } = ctx;

  const openSession = (userId: string, meta: ClientMeta) =>
    sessions.create({ userId, ttlMs: SESSION_TTL_MS, ip: meta.ip, userAgent: meta.userAgent });

  const registerTx = durableTransaction(ctx.db, (input: { email: string; name: string; passwordHash: string }, meta: ClientMeta) => {
    const existing = users.getByEmail(input.email);
    if (existing) {
      // Recorded in this durable commit, as a new account's rows are: both answers wait for
      // one hash and one synced commit.
      audit.record({ action: 'register.duplicate', targetId: existing.id, ip: meta.ip });
      return { existing };
    }
    // Decided inside the write transaction: two racing first registrations cannot both win.
    const role = users.count() === 0 && isLoopback(meta.ip) ? ('admin' as const) : ('user' as const);
    const id = users.insert({ ...input, role });
    const session = openSession(id, meta);
    audit.record({ action: 'register', actorId: id, targetId: id, ip: meta.ip, details: { role } });
    return { user: users.get(id)!, session };
  });

  // The address's failure counter is reset in the same commit: one write per sign-in, not two.
  const signInTx = durableTransaction(ctx.db, (userId: string, meta: ClientMeta, failureKey: string) => {
    if (!users.get(userId)) return null;
    const session = openSession(userId, meta);
    users.recordLogin(userId);
    ctx.knownAddresses.remember(userId, meta.ip);
    failures.clear(failureKey);
    audit.record({ action: 'login.success', actorId: userId, targetId: userId, ip: meta.ip });
    return session;
  });

  const replacePasswordTx = durableTransaction(ctx.db, 
    (userId: string, passwordHash: string, keepSessionId: string | null, action: string, ip: string) => {
      users.setPassword(userId, passwordHash);
      if (keepSessionId) sessions.revokeOthers(userId, keepSessionId);
      else sessions.revokeAll(userId);
      audit.record({ action, actorId: userId, targetId: userId, ip });
    },
  );

  // Unknown e-mails are recorded too (without a target, as failed logins are), so the work
  // after the answer costs the same synced commit whether or not the account exists.
  const requestResetTx = durableTransaction(ctx.db, (reset: { userId: string; tokenHash: string } | null, ip: string) => {
    if (reset) ctx.resetTokens.issue(reset.userId, reset.tokenHash, RESET_TOKEN_TTL_MS);
    audit.record({ action: 'password_reset.request', targetId: reset?.userId ?? null, ip });
  });

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
    async register(input: { email: string; name: string; password: string }, meta: ClientMeta) {
      refuseCommonPassword(input.password);
      // Hash first in every case: an existing e-mail costs the same time as a new one.
      const passwordHash = await ctx.hasher.hash(input.password);
      const result = registerTx.immediate({ email: input.email, name: input.name, passwordHash }, meta);
      if ('existing' in result && result.existing) {
        const { id, email } = result.existing;
        // Queued after the answer, as forgot-password's link is, so the mail adds no time.
        ctx.afterResponse.run('duplicate registration notice', () => {
          ctx.mailer.send({ userId: id, to: email, ...duplicateRegistrationMail(ctx.config.auth.publicUrl), ttlMs: NOTICE_TTL_MS });
        });
        return { created: false as const };
      }
      const { user, session } = result as { user: UserRecord; session: NonNullable<ReturnType<typeof openSession>> };
      return { created: true as const, user, ...tokens.issue(user, session) };
    },

    async login(
      input: { email: string; password: string; totpCode?: string | undefined; backupCode?: string | undefined },
      meta: ClientMeta,
    ): Promise<LoginOutcome> {
      assertAtMostOneCode(input);
      const perIp = ctx.limits.loginFailuresPerAccountAndIp;
      const perAccount = ctx.limits.loginFailuresPerAccount;
      const ipKey = `login:${input.email}|${meta.ip}`;
      const accountKey = `login:${input.email}`;
      const user = users.getByEmail(input.email);
      // Checked before the password, so the answer is the same whether the password is right.
      const ipBlock = failures.blockedFor(ipKey, perIp.max);
      if (ipBlock > 0) throw lockedOut(ipBlock, perIp.max);
      // Many addresses together can reach the account-wide cap; the owner's known addresses
      // (full sign-ins in the last 30 days) stay under the per-account-and-IP rule only.
      const accountBlock = failures.blockedFor(accountKey, perAccount.max);
      if (accountBlock > 0 && !(user && ctx.knownAddresses.isKnown(user.id, meta.ip))) throw lockedOut(accountBlock, perAccount.max);

      const fail = (reason: string, error: AppError): never => {
        const ipFailures = failures.record(ipKey, perIp.windowMs);
        const accountFailures = failures.record(accountKey, perAccount.windowMs);
        audit.record({ action: 'login.failure', targetId: user?.id ?? null, ip: meta.ip, details: { reason } });
        // The failure that reaches a limit starts the lockout: the owner hears of it once.
        if (user && accountFailures === perAccount.max) {
          sendSecurityNotice(ctx, user, { kind: 'login-locked-everywhere', failures: perAccount.max, minutes: perAccount.windowMs / 60_000 }, meta.ip);
        } else if (user && ipFailures === perIp.max) {
          sendSecurityNotice(ctx, user, { kind: 'login-locked-for-ip', failures: perIp.max, minutes: perIp.windowMs / 60_000 }, meta.ip);
        }
        throw error;
      };

      if (ctx.config.auth.ipReputationCheck && !user?.totpEnabled && ctx.ipReputation.isMalicious(meta.ip)) {
        fail('malicious_ip', forbidden('Login blocked from a known malicious address'));
      }
      if (!user) {
        await ctx.hasher.burn(input.password);
        return fail('invalid_credentials', unauthorized(INVALID_CREDENTIALS));
      }
      if (!(await ctx.hasher.verify(input.password, user.passwordHash))) fail('invalid_credentials', unauthorized(INVALID_CREDENTIALS));
      if (user.suspended) {
        audit.record({ action: 'login.failure', targetId: user.id, ip: meta.ip, details: { reason: 'suspended' } });
        throw forbidden('Account suspended');
      }
      if (user.totpEnabled) {
        if (input.totpCode === undefined && input.backupCode === undefined) return { kind: 'second-factor-required' };
        try {
          secondFactor.verify(user, input);
        } catch (error) {
          if (error instanceof AppError) fail(input.totpCode !== undefined ? 'invalid_totp' : 'invalid_backup_code', error);
          throw error;
        }
      }
      if (ctx.hasher.needsRehash(user.passwordHash)) {
        users.setPassword(user.id, await ctx.hasher.hash(input.password));
      }
      const session = signInTx(user.id, meta, ipKey);
      if (!session) throw unauthorized(INVALID_CREDENTIALS);
      return { kind: 'signed-in', user, ...tokens.issue(user, session) };
    },

    logout(principal: AuthPrincipal, ip: string): void {
      sessions.revoke(principal.session.id);
      audit.record({ action: 'logout', actorId: principal.user.id, targetId: principal.user.id, ip });
    },

    logoutAll(principal: AuthPrincipal, ip: string): number {
      const revoked = sessions.revokeAll(principal.user.id);
      audit.record({ action: 'logout.all', actorId: principal.user.id, targetId: principal.user.id, ip, details: { revoked } });
      return revoked;
    },

    async changePassword(principal: AuthPrincipal, currentPassword: string, newPassword: string, ip: string): Promise<void> {
      const { user, session } = principal;
      const budget = secondFactor.guardFailures('change-password', user.id);
      if (!(await ctx.hasher.verify(currentPassword, user.passwordHash))) {
        budget.fail();
        throw unauthorized('Current password is incorrect');
      }
      refuseCommonPassword(newPassword);
      const hash = await ctx.hasher.hash(newPassword);
      replacePasswordTx(user.id, hash, session.id, 'password.change', ip);
      sendSecurityNotice(ctx, user, { kind: 'password-changed' }, ip);
    },

    /**
     * Everything happens after the answer has been sent (contract): the lookup, the token and
     * the mail would otherwise make a known e-mail's answer slower than an unknown one's.
     */
    forgotPassword(email: string, ip: string): void {
      ctx.afterResponse.run('password reset request', () => {
        const user = users.getByEmail(email);
        if (!user) {
          requestResetTx(null, ip);
          return;
        }
        const token = randomBytes(32).toString('base64url');
        requestResetTx({ userId: user.id, tokenHash: sha256Hex(token) }, ip);
        const mail = resetPasswordMail(ctx.config.auth.publicUrl, token);
        ctx.mailer.send({ userId: user.id, to: user.email, ...mail, ttlMs: RESET_TOKEN_TTL_MS });
      });
    },

    async resetPassword(token: string, newPassword: string, ip: string): Promise<void> {
      // A refused password must not burn the emailed token: checked before redeeming it.
      refuseCommonPassword(newPassword);
      // Redeemed before the slow hash, so two concurrent uses cannot both succeed.
      const userId = ctx.resetTokens.redeem(sha256Hex(token));
      if (!userId) throw badRequest(RESET_TOKEN_INVALID);
      const hash = await ctx.hasher.hash(newPassword);
      const user = users.get(userId);
      if (!user) throw badRequest(RESET_TOKEN_INVALID);
      replacePasswordTx(userId, hash, null, 'password_reset.complete', ip);
      sendSecurityNotice(ctx, user, { kind: 'password-reset' }, ip);
    },

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
export type Accounts = ReturnType<typeof createAccounts>;
