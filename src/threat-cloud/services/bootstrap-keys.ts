import type { ApiKeyStore } from '../../shared/api-keys.js';
import { KEY_SCOPES } from '../../shared/api-keys.js';
import type { Storage } from '../../shared/db/storage.js';
import { sha256Hex } from '../../shared/tokens.js';
import { createBootstrapKeyStore } from '../stores/bootstrap-keys.js';

/** Reads the stored bootstrap keys, then adds and revokes: two starts must not both add a key. */
const BOOTSTRAP_KEYS_LOCK = 'tc:bootstrap-keys';

/**
 * Makes the stored bootstrap keys match TC_API_KEYS, by digest and idempotently: a listed key
 * not stored yet is added (tier enterprise, all scopes); a stored bootstrap key no longer
 * listed is revoked. A listed key an operator revoked stays revoked.
 */
export async function syncBootstrapKeys(storage: Storage, keys: ApiKeyStore, configured: readonly string[]): Promise<{ added: number; revoked: number }> {
  const stored = createBootstrapKeyStore();
  const wanted = new Set(configured.map((key) => sha256Hex(key)));
  return await storage.transaction({ durable: true, locks: [BOOTSTRAP_KEYS_LOCK] }, async (tx) => {
    let added = 0;
    let revoked = 0;
    for (const key of new Set(configured)) {
      if (await stored.exists(tx, sha256Hex(key))) continue;
      await keys.create(tx, { name: 'bootstrap (TC_API_KEYS)', origin: 'bootstrap', tier: 'enterprise', scopes: KEY_SCOPES, key });
      added += 1;
    }
    for (const row of await stored.liveBootstrap(tx)) {
      if (!wanted.has(row.keyHash) && (await keys.revoke(tx, row.id))) revoked += 1;
    }
    return { added, revoked };
  });
}
