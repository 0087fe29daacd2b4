import type { KeyScope } from '../../shared/api-keys.js';
import { forbidden, notFound } from '../../shared/errors.js';
import { QUOTAS, UNLIMITED, quotaExceededMessage, tierAtLeast } from '../../shared/tiers.js';
import type { AuthContext } from '../context.js';
import type { UserRecord } from '../stores/users.js';

export const WRITE_NEEDS_SOLO = 'Contributing intelligence requires the solo tier or higher';

/** Threat Cloud API keys owned by users: scopes by tier, the api_keys quota, revocation. */
export function createUserApiKeys(ctx: AuthContext) {
  const createTx = (user: UserRecord, name: string, scopes: KeyScope[], ip: string) =>
    ctx.storage.transaction({ durable: true, locks: [`auth:api-keys:${user.id}`] }, async (tx) => {
      const limit = QUOTAS[user.tier].api_keys;
      // Counted and inserted in one transaction: concurrent requests cannot overshoot the quota.
      if (limit !== UNLIMITED && (await ctx.apiKeys.countActiveByOwner(tx, user.id)) >= limit) {
        throw forbidden(quotaExceededMessage('api_keys', user.tier));
      }
      const created = await ctx.apiKeys.create(tx, { name, origin: 'user', scopes, ownerUserId: user.id });
      await ctx.audit.record(tx, { action: 'api_key.create', actorId: user.id, targetId: user.id, ip, details: { keyId: created.record.id, prefix: created.record.prefix, scopes } });
      return created;
    });

  return {
    create(user: UserRecord, name: string, requested: Array<'read' | 'write'> | undefined, ip: string) {
      const canWrite = tierAtLeast(user.tier, 'solo');
      if (requested?.includes('write') && !canWrite) throw forbidden(WRITE_NEEDS_SOLO);
      const scopes: KeyScope[] = requested ?? (canWrite ? ['read', 'write'] : ['read']);
      return createTx(user, name, scopes, ip);
    },
    list(user: UserRecord) {
      return ctx.apiKeys.listByOwner(user.id);
    },
    async revoke(user: UserRecord, id: string, ip: string): Promise<void> {
      if (!(await ctx.apiKeys.revoke(ctx.storage, id, user.id))) throw notFound('API key not found');
      await ctx.audit.recordNow({ action: 'api_key.revoke', actorId: user.id, targetId: user.id, ip, details: { keyId: id } });
    },
  };
}
export type UserApiKeys = ReturnType<typeof createUserApiKeys>;
