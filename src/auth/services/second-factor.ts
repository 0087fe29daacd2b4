import { AppError, badRequest, conflict, tooManyRequests, unauthorized } from '../../shared/errors.js';
import type { AuthPrincipal } from '../authenticate.js';
import type { AuthContext } from '../context.js';
import { matchingStep, newBackupCodes, newTotpSecret, otpauthUrl } from './totp-crypto.js';
import type { UserRecord } from '../stores/users.js';
import { sendSecurityNotice } from './security-notices.js';

export const INVALID_TWO_FACTOR = 'Invalid two-factor code';
export const INVALID_BACKUP_CODE = 'Invalid backup code';

export interface SecondFactorInput {
  totpCode?: string | undefined;
  backupCode?: string | undefined;
}

/** Both codes at once is ambiguous: the contract answers 400 rather than trying either. */
export function assertAtMostOneCode(input: SecondFactorInput): void {
  if (input.totpCode !== undefined && input.backupCode !== undefined) {
    throw badRequest('Provide either totpCode or backupCode, not both');
  }
}

/** TOTP enrolment, verification with replay protection, and backup codes. */
export function createSecondFactor(ctx: AuthContext) {
  const secretOf = async (user: UserRecord): Promise<{ secret: string; lastUsedStep: number | null; enabled: boolean } | null> => {
    const record = await ctx.totp.get(user.id);
    if (!record) return null;
    return { secret: ctx.secretBox.open(record.secretEncrypted, user.id), lastUsedStep: record.lastUsedStep, enabled: record.enabled };
  };

  /** Checks a TOTP code of an enabled account and burns its step; false when wrong or replayed. */
  async function checkTotp(user: UserRecord, code: string): Promise<boolean> {
    const totp = await secretOf(user);
    if (!totp || !totp.enabled) return false;
    const step = matchingStep(totp.secret, code, ctx.clock.now());
    if (step === null) return false;
    return ctx.totp.consumeStep(user.id, step);
  }

  /** Checks and uses up one backup code; false when unknown or used. */
  async function checkBackupCode(user: UserRecord, code: string): Promise<boolean> {
    const match = (await ctx.totp.unusedBackupCodes(user.id)).find((stored) => ctx.backupCodes.matches(code, stored.hash));
    return match !== undefined && ctx.totp.consumeBackupCode(match.id);
  }

  /**
   * The second factor of an account with TOTP enabled: 401 with the contract's message
   * when wrong. The caller decides what a missing code means.
   */
  async function verify(user: UserRecord, input: SecondFactorInput): Promise<void> {
    if (input.totpCode !== undefined) {
      if (!(await checkTotp(user, input.totpCode))) throw unauthorized(INVALID_TWO_FACTOR);
    } else if (input.backupCode !== undefined) {
      if (!(await checkBackupCode(user, input.backupCode))) throw unauthorized(INVALID_BACKUP_CODE);
    } else {
      throw badRequest('totpCode or backupCode is required');
    }
  }

  /** Per-user budget for guessing codes (TOTP verify/disable, backup regeneration, deletion). */
  async function guardFailures(scope: string, userId: string): Promise<{ fail(): Promise<void> }> {
    const key = `${scope}:${userId}`;
    const limit = ctx.limits.secondFactorFailuresPerUser;
    const retryAfter = await ctx.failures.blockedFor(key, limit.max);
    if (retryAfter > 0) throw tooManyRequests(retryAfter, limit.max);
    return {
      fail: async () => {
        await ctx.failures.record(key, limit.windowMs);
      },
    };
  }

  /** Runs `check`; an AppError of 400/401 counts as a failure of that scope. */
  async function withFailureBudget<T>(scope: string, userId: string, check: () => Promise<T>): Promise<T> {
    const budget = await guardFailures(scope, userId);
    try {
      return await check();
    } catch (error) {
      if (error instanceof AppError && (error.statusCode === 401 || error.statusCode === 400)) await budget.fail();
      throw error;
    }
  }

  return {
    verify,
    guardFailures,
    withFailureBudget,

    async setup(user: UserRecord): Promise<{ secret: string; otpauthUrl: string; backupCodes: string[] }> {
      if (user.totpEnabled) throw conflict('Two-factor authentication is already enabled');
      const secret = newTotpSecret();
      const codes = newBackupCodes();
      const stored = await ctx.totp.setPending(user.id, ctx.secretBox.seal(secret, user.id), codes.map((c) => ctx.backupCodes.hash(c)));
      if (!stored) throw conflict('Two-factor authentication is already enabled');
      return { secret, otpauthUrl: otpauthUrl(secret, user.email), backupCodes: codes };
    },

    /** Confirms enrolment with a first code; audited, and the owner is told. */
    async enable(user: UserRecord, code: string, ip: string): Promise<void> {
      await withFailureBudget('totp', user.id, async () => {
        const totp = await secretOf(user);
        if (totp?.enabled) throw conflict('Two-factor authentication is already enabled');
        if (!totp) throw badRequest('Two-factor authentication has not been set up; call POST /api/auth/totp/setup first');
        const step = matchingStep(totp.secret, code, ctx.clock.now());
        if (step === null || !(await ctx.totp.enable(user.id, step))) throw badRequest('Invalid TOTP code. Please try again.');
      });
      await ctx.audit.recordNow({ action: 'totp.enable', actorId: user.id, targetId: user.id, ip });
      await sendSecurityNotice(ctx, user, { kind: 'totp-enabled' }, ip);
    },

    /**
     * Needs the password and a code; removes the secret and the backup codes, and ends the
     * caller's other sessions.
     */
    async disable(principal: AuthPrincipal, password: string, input: SecondFactorInput, ip: string): Promise<void> {
      const { user, session } = principal;
      assertAtMostOneCode(input);
      if (input.totpCode === undefined && input.backupCode === undefined) throw badRequest('totpCode or backupCode is required');
      const budget = await guardFailures('totp-disable', user.id);
      if (!(await ctx.hasher.verify(password, user.passwordHash))) {
        await budget.fail();
        throw unauthorized('Invalid password');
      }
      if (!user.totpEnabled) throw badRequest('Two-factor authentication is not enabled');
      try {
        await verify(user, input);
      } catch (error) {
        await budget.fail();
        throw error;
      }
      await ctx.totp.disable(user.id);
      const revoked = await ctx.sessions.revokeOthers(ctx.storage, user.id, session.id);
      await ctx.audit.recordNow({ action: 'totp.disable', actorId: user.id, targetId: user.id, ip, details: { sessionsRevoked: revoked } });
      await sendSecurityNotice(ctx, user, { kind: 'totp-disabled' }, ip);
    },

    async regenerateBackupCodes(user: UserRecord, code: string, ip: string): Promise<string[]> {
      if (!user.totpEnabled) throw badRequest('Two-factor authentication is not enabled');
      await withFailureBudget('totp', user.id, async () => {
        if (!(await checkTotp(user, code))) throw unauthorized(INVALID_TWO_FACTOR);
      });
      const codes = newBackupCodes();
      await ctx.totp.replaceBackupCodes(user.id, codes.map((c) => ctx.backupCodes.hash(c)));
      await ctx.audit.recordNow({ action: 'totp.backup_codes.regenerate', actorId: user.id, targetId: user.id, ip });
      await sendSecurityNotice(ctx, user, { kind: 'backup-codes-regenerated' }, ip);
      return codes;
    },

    async status(user: UserRecord): Promise<{ enabled: boolean; backupCodesRemaining: number }> {
      return { enabled: user.totpEnabled, backupCodesRemaining: user.totpEnabled ? await ctx.totp.backupCodesRemaining(user.id) : 0 };
    },
  };
}
export type SecondFactor = ReturnType<typeof createSecondFactor>;
