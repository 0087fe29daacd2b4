import { isIP } from 'node:net';
import { durableTransaction } from '../../shared/db/durable.js';
import { AppError, forbidden, unauthorized } from '../../shared/errors.js';
import { SESSION_TTL_MS, type TokenIssuer } from '../authenticate.js';
import type { AuthContext } from '../context.js';
import { duplicateRegistrationMail } from '../mail/templates.js';
import type { UserRecord } from '../stores/users.js';
import { refuseCommonPassword } from './passwords.js';
import { assertAtMostOneCode, type SecondFactor } from './second-factor.js';
import { loginAttempt } from './login-throttle.js';
import { NOTICE_TTL_MS } from './security-notices.js';

export const REGISTER_MESSAGE = 'If this email can be registered, the account has been created.';
export const INVALID_CREDENTIALS = 'Invalid email or password';

export interface ClientMeta {
  ip: string;
  userAgent: string | null;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms: the only place a first admin may come from. */
export function isLoopback(ip: string): boolean {
  const plain = ip.toLowerCase().startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1' || plain === '0:0:0:0:0:0:0:1';
}

export type LoginOutcome =
  | { kind: 'second-factor-required' }
  | { kind: 'signed-in'; user: UserRecord; token: string; expiresAt: string };

/** Registration and sign-in: the rules of the contract. */
export function createAccounts(ctx: AuthContext, tokens: TokenIssuer, secondFactor: SecondFactor) {
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
      const user = users.getByEmail(input.email);
      const attempt = loginAttempt(ctx, input.email, user, meta.ip);
      attempt.assertAllowed();

      if (ctx.config.auth.ipReputationCheck && !user?.totpEnabled && ctx.ipReputation.isMalicious(meta.ip)) {
        attempt.fail('malicious_ip', forbidden('Login blocked from a known malicious address'));
      }
      if (!user) {
        await ctx.hasher.burn(input.password);
        return attempt.fail('invalid_credentials', unauthorized(INVALID_CREDENTIALS));
      }
      if (!(await ctx.hasher.verify(input.password, user.passwordHash))) attempt.fail('invalid_credentials', unauthorized(INVALID_CREDENTIALS));
      if (user.suspended) {
        audit.record({ action: 'login.failure', targetId: user.id, ip: meta.ip, details: { reason: 'suspended' } });
        throw forbidden('Account suspended');
      }
      if (user.totpEnabled) {
        if (input.totpCode === undefined && input.backupCode === undefined) return { kind: 'second-factor-required' };
        try {
          secondFactor.verify(user, input);
        } catch (error) {
          if (error instanceof AppError) attempt.fail(input.totpCode !== undefined ? 'invalid_totp' : 'invalid_backup_code', error);
          throw error;
        }
      }
      if (ctx.hasher.needsRehash(user.passwordHash)) {
        users.setPassword(user.id, await ctx.hasher.hash(input.password));
      }
      const session = signInTx(user.id, meta, attempt.ipKey);
      if (!session) throw unauthorized(INVALID_CREDENTIALS);
      return { kind: 'signed-in', user, ...tokens.issue(user, session) };
    },
  };
}
export type Accounts = ReturnType<typeof createAccounts>;
