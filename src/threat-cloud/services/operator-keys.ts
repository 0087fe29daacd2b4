import type { ApiKeyRecord, ApiKeyStore } from '../../shared/api-keys.js';
import type { Storage } from '../../shared/db/storage.js';
import { notFound } from '../../shared/errors.js';
import type { CreateKeyBody } from '../schemas.js';
import type { AuditStore } from '../stores/audit.js';

const keyInfo = (record: ApiKeyRecord) => ({
  id: record.id,
  prefix: record.prefix,
  masked: record.masked,
  name: record.name,
  origin: record.origin,
  tier: record.tier,
  scopes: record.scopes,
  createdAt: record.createdAt,
});

/**
 * Who administers keys: the admin token over HTTP (its client IP), or the operator CLI on the
 * server's machine (no IP; the entry says `via: "cli"`).
 */
export type KeyAdministrator = { via: 'api'; ip: string } | { via: 'cli' };

const auditedAs = (by: KeyAdministrator) => ({ details: by.via === 'cli' ? { via: 'cli' } : {}, ip: by.via === 'api' ? by.ip : null });

/**
 * Operator key administration, for `POST/DELETE /api/admin/keys` (TC_ADMIN_TOKEN) and
 * `panguard keys`: each change is audited in its own durable transaction. The audit entry
 * names no API key (neither the admin token nor the CLI is one).
 */
export function createOperatorKeyService(deps: { storage: Storage; keys: ApiKeyStore; audit: AuditStore }) {
  const { storage, keys, audit } = deps;

  return {
    /** The key itself is in the answer once and never stored. */
    async create(input: CreateKeyBody, by: KeyAdministrator) {
      const { details, ip } = auditedAs(by);
      const { record, key } = await storage.transaction({ durable: true }, async (tx) => {
        const result = await keys.create(tx, { name: input.name, origin: 'operator', tier: input.tier, scopes: input.scopes });
        await audit.record(tx, {
          action: 'create',
          resource: `api-key:${result.record.id}`,
          details: { name: result.record.name, tier: result.record.tier, scopes: result.record.scopes, key: result.record.masked, ...details },
          apiKey: null,
          ip,
        });
        return result;
      });
      return { id: record.id, key, prefix: record.prefix, name: record.name, tier: record.tier, scopes: record.scopes };
    },

    /** Operator and bootstrap keys that are not revoked. */
    async list() {
      return (await keys.listServiceKeys()).map(keyInfo);
    },

    /** Any API key; 404 when none has this id. */
    async revoke(id: string, by: KeyAdministrator) {
      const { details, ip } = auditedAs(by);
      const revoked = await storage.transaction({ durable: true }, async (tx) => {
        const done = await keys.revoke(tx, id);
        if (done) await audit.record(tx, { action: 'delete', resource: `api-key:${id}`, details, apiKey: null, ip });
        return done;
      });
      if (!revoked) throw notFound('API key not found');
      return { id, revoked: true as const };
    },
  };
}
export type OperatorKeyService = ReturnType<typeof createOperatorKeyService>;
