import { randomBytes } from 'node:crypto';
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
  const { storage, users, sessions, audit } = ctx;

  const replacePasswordTx = (userId: string, passwordHash: string, keepSessionId: string | null, action: string, ip: string) =>
    storage.transaction({ durable: true }, async (tx) => {
      await users.setPassword(tx, userId, passwordHash);
      if (keepSessionId) await sessions.revokeOthers(tx, userId, keepSessionId);
      else await sessions.revokeAll(tx, userId);
      await audit.record(tx, { action, actorId: userId, targetId: userId, ip });
    });

  // Unknown e-mails are recorded too (without a target, as failed logins are), so the work
  // after the answer costs the same synced commit whether or not the account exists.
  const requestResetTx = (reset: { userId: string; tokenHash: string } | null, ip: string) =>
    storage.transaction({ durable: true }, async (tx) => {
      if (reset) await ctx.resetTokens.issue(tx, reset.userId, reset.tokenHash, RESET_TOKEN_TTL_MS);
      await audit.record(tx, { action: 'password_reset.request', targetId: reset?.userId ?? null, ip });
    });

  return {
    async changePassword(principal: AuthPrincipal, currentPassword: string, newPassword: string, ip: string): Promise<void> {
      const { user, session } = principal;
      const budget = await secondFactor.guardFailures('change-password', user.id);
      if (!(await ctx.hasher.verify(currentPassword, user.passwordHash))) {
        await budget.fail();
        throw unauthorized('Current password is incorrect');
      }
      refuseCommonPassword(newPassword);
      const hash = await ctx.hasher.hash(newPassword);
      await replacePasswordTx(user.id, hash, session.id, 'password.change', ip);
      await sendSecurityNotice(ctx, user, { kind: 'password-changed' }, ip);
    },

    /**
     * Everything happens after the answer has been sent (contract): the lookup, the token and
     * the mail would otherwise make a known e-mail's answer slower than an unknown one's.
     */
    forgotPassword(email: string, ip: string): void {
      ctx.afterResponse.run('password reset request', async () => {
        const user = await users.getByEmail(storage, email);
        if (!user) {
          await requestResetTx(null, ip);
          return;
        }
        const token = randomBytes(32).toString('base64url');
        await requestResetTx({ userId: user.id, tokenHash: sha256Hex(token) }, ip);
        const mail = resetPasswordMail(ctx.config.auth.publicUrl, token);
        await ctx.mailer.send({ userId: user.id, to: user.email, ...mail, ttlMs: RESET_TOKEN_TTL_MS });
      });
    },

    async resetPassword(token: string, newPassword: string, ip: string): Promise<void> {
      // A refused password must not burn the emailed token: checked before redeeming it.
      refuseCommonPassword(newPassword);
      // Redeemed before the slow hash, so two concurrent uses cannot both succeed.
      const userId = await ctx.resetTokens.redeem(sha256Hex(token));
      if (!userId) throw badRequest(RESET_TOKEN_INVALID);
      const hash = await ctx.hasher.hash(newPassword);
      const user = await users.get(storage, userId);
      if (!user) throw badRequest(RESET_TOKEN_INVALID);
      await replacePasswordTx(userId, hash, null, 'password_reset.complete', ip);
      await sendSecurityNotice(ctx, user, { kind: 'password-reset' }, ip);
    },
  };
}
export type Passwords = ReturnType<typeof createPasswords>;
