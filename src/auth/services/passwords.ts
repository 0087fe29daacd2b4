import { randomBytes } from 'node:crypto';
import { durableTransaction } from '../../shared/db/durable.js';
import { badRequest, unauthorized } from '../../shared/errors.js';
import { sha256Hex } from '../../shared/tokens.js';
import type { AuthPrincipal } from '../authenticate.js';
import type { AuthContext } from '../context.js';
import { resetPasswordMail } from '../mail/templates.js';
import { COMMON_PASSWORD_MESSAGE, isCommonPassword } from './common-passwords.js';
import type { SecondFactor } from './second-factor.js';
import { sendSecurityNotice } from './security-notices.js';
import { HOUR_MS } from '../../shared/time.js';

export const FORGOT_MESSAGE = 'If an account with that email exists, a reset link has been sent.';
export const RESET_TOKEN_INVALID = 'Reset token is invalid or has expired';
const RESET_TOKEN_TTL_MS = HOUR_MS;

/** A password that meets the length policy but appears in breach lists is a 400 (ASVS 6.2.4). */
export function refuseCommonPassword(password: string): void {
  if (isCommonPassword(password)) throw badRequest(COMMON_PASSWORD_MESSAGE, 'COMMON_PASSWORD');
}

/** Changing a password, and resetting a forgotten one with an e-mailed token. */
export function createPasswords(ctx: AuthContext, secondFactor: SecondFactor) {
  const { users, sessions, audit } = ctx;

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

  return {
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
  };
}
export type Passwords = ReturnType<typeof createPasswords>;
