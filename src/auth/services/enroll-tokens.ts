import { conflict, notFound } from '../../shared/errors.js';
import type { AuthContext } from '../context.js';
import type { UserRecord } from '../stores/users.js';
import { DAY_MS } from '../../shared/time.js';

export const TOO_MANY_ENROLL_TOKENS = 'Too many enrollment tokens';
export const MAX_LIVE_ENROLL_TOKENS = 10;
export const DEFAULT_ENROLL_TOKEN_DAYS = 30;

/**
 * Enrollment tokens users make to install Guard agents into their own org: at most 10 live
 * ones each, creation and revocation audited in the transaction that makes them.
 */
export function createUserEnrollTokens(ctx: AuthContext) {
  const { storage, enrollTokens, audit } = ctx;
  const createTx = (user: UserRecord, name: string, days: number, ip: string) =>
    storage.transaction({ durable: true, locks: [`auth:enroll-tokens:${user.id}`] }, async (tx) => {
      // Counted and inserted in one transaction: concurrent requests cannot overshoot the limit.
      if ((await enrollTokens.countLive(tx, user.id)) >= MAX_LIVE_ENROLL_TOKENS) throw conflict(TOO_MANY_ENROLL_TOKENS);
      const created = await enrollTokens.create(tx, { userId: user.id, name, ttlMs: days * DAY_MS });
      const { id, prefix, expiresAt } = created.record;
      await audit.record(tx, { action: 'enroll_token.create', actorId: user.id, targetId: user.id, ip, details: { tokenId: id, prefix, expiresAt } });
      return created;
    });
  const revokeTx = (user: UserRecord, id: string, ip: string) =>
    storage.transaction({ durable: true }, async (tx) => {
      if (!(await enrollTokens.revoke(tx, id, user.id))) throw notFound('Enrollment token not found');
      await audit.record(tx, { action: 'enroll_token.revoke', actorId: user.id, targetId: user.id, ip, details: { tokenId: id } });
    });

  return {
    create(user: UserRecord, name: string, expiresInDays: number | undefined, ip: string) {
      return createTx(user, name, expiresInDays ?? DEFAULT_ENROLL_TOKEN_DAYS, ip);
    },
    list(user: UserRecord) {
      return enrollTokens.listUnrevoked(user.id);
    },
    revoke(user: UserRecord, id: string, ip: string): Promise<void> {
      return revokeTx(user, id, ip);
    },
  };
}
export type UserEnrollTokens = ReturnType<typeof createUserEnrollTokens>;
