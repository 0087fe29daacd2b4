import { isIP } from 'node:net';
import type { Transaction } from '../../shared/db/storage.js';
import { AppError, forbidden, unauthorized } from '../../shared/errors.js';
import { SESSION_TTL_MS, type TokenIssuer } from '../authenticate.js';
import type { AuthContext } from '../context.js';
import { duplicateRegistrationMail } from '../mail/templates.js';
import type { SessionRecord } from '../stores/sessions.js';
import type { UserRecord } from '../stores/users.js';
import { refuseCommonPassword } from './passwords.js';
import { assertAtMostOneCode, type SecondFactor } from './second-factor.js';
import { loginAttempt } from './login-throttle.js';
import { NOTICE_TTL_MS } from './security-notices.js';

/** Held by every transaction that decides or removes an admin: who is admin never interleaves. */
export const ADMINS_LOCK = 'auth:admins';

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
  const { storage, users, sessions, audit, failures } = ctx;
  const openSession = (tx: Transaction, userId: string, meta: ClientMeta) =>
    sessions.create(tx, { userId, ttlMs: SESSION_TTL_MS, ip: meta.ip, userAgent: meta.userAgent });

  // The role is decided under the admins lock: two racing first registrations cannot both win.
  const registerTx = (input: { email: string; name: string; passwordHash: string }, meta: ClientMeta) =>
    storage.transaction({ durable: true, locks: [ADMINS_LOCK] }, async (tx) => {
      const existing = await users.getByEmail(tx, input.email);
      if (existing) {
        // Recorded in this durable commit, as a new account's rows are: both answers wait for
        // one hash and one synced commit.
        await audit.record(tx, { action: 'register.duplicate', targetId: existing.id, ip: meta.ip });
        return { existing };
      }
      const role = (await users.count(tx)) === 0 && isLoopback(meta.ip) ? ('admin' as const) : ('user' as const);
      const id = await users.insert(tx, { ...input, role });
      const session = await openSession(tx, id, meta);
      await audit.record(tx, { action: 'register', actorId: id, targetId: id, ip: meta.ip, details: { role } });
      return { user: (await users.get(tx, id))!, session };
    });

  // The address's failure counter is reset in the same commit: one write per sign-in, not two.
  const signInTx = (userId: string, meta: ClientMeta, failureKey: string) =>
    storage.transaction({ durable: true }, async (tx) => {
      if (!(await users.get(tx, userId))) return null;
      const session = await openSession(tx, userId, meta);
      await users.recordLogin(tx, userId);
      await ctx.knownAddresses.remember(tx, userId, meta.ip);
      await failures.clear(tx, failureKey);
      await audit.record(tx, { action: 'login.success', actorId: userId, targetId: userId, ip: meta.ip });
      return session;
    });

  return {
    async register(input: { email: string; name: string; password: string }, meta: ClientMeta) {
      refuseCommonPassword(input.password);
      // Hash first in every case: an existing e-mail costs the same time as a new one.
      const passwordHash = await ctx.hasher.hash(input.password);
      const result = await registerTx({ email: input.email, name: input.name, passwordHash }, meta);
      if (result.existing) {
        const { id, email } = result.existing;
        // Queued after the answer, as forgot-password's link is, so the mail adds no time.
        ctx.afterResponse.run('duplicate registration notice', () =>
          ctx.mailer.send({ userId: id, to: email, ...duplicateRegistrationMail(ctx.config.auth.publicUrl), ttlMs: NOTICE_TTL_MS }),
        );
        return { created: false as const };
      }
      const { user, session } = result as { user: UserRecord; session: SessionRecord };
      return { created: true as const, user, ...tokens.issue(user, session) };
    },

    async login(
      input: { email: string; password: string; totpCode?: string | undefined; backupCode?: string | undefined },
      meta: ClientMeta,
    ): Promise<LoginOutcome> {
      assertAtMostOneCode(input);
      const user = await users.getByEmail(storage, input.email);
      const attempt = loginAttempt(ctx, input.email, user, meta.ip);
      await attempt.assertAllowed();
      if (ctx.config.auth.ipReputationCheck && !user?.totpEnabled && (await ctx.ipReputation.isMalicious(meta.ip))) {
        return attempt.fail('malicious_ip', forbidden('Login blocked from a known malicious address'));
      }
      if (!user) {
        await ctx.hasher.burn(input.password);
        return attempt.fail('invalid_credentials', unauthorized(INVALID_CREDENTIALS));
      }
      if (!(await ctx.hasher.verify(input.password, user.passwordHash))) return attempt.fail('invalid_credentials', unauthorized(INVALID_CREDENTIALS));
      if (user.suspended) {
        await audit.recordNow({ action: 'login.failure', targetId: user.id, ip: meta.ip, details: { reason: 'suspended' } });
        throw forbidden('Account suspended');
      }
      if (user.totpEnabled) {
        if (input.totpCode === undefined && input.backupCode === undefined) return { kind: 'second-factor-required' };
        try {
          await secondFactor.verify(user, input);
        } catch (error) {
          if (error instanceof AppError) return attempt.fail(input.totpCode !== undefined ? 'invalid_totp' : 'invalid_backup_code', error);
          throw error;
        }
      }
      if (ctx.hasher.needsRehash(user.passwordHash)) {
        const rehashed = await ctx.hasher.hash(input.password);
        await users.setPassword(storage, user.id, rehashed);
      }
      const session = await signInTx(user.id, meta, attempt.ipKey);
      if (!session) throw unauthorized(INVALID_CREDENTIALS);
      return { kind: 'signed-in', user, ...tokens.issue(user, session) };
    },
  };
}
export type Accounts = ReturnType<typeof createAccounts>;
