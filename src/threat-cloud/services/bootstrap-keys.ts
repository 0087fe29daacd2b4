import type { ApiKeyStore } from '../../shared/api-keys.js';
import { KEY_SCOPES } from '../../shared/api-keys.js';
import type { Db } from '../../shared/db/open.js';
import { sha256Hex } from '../../shared/tokens.js';
import { durableTransaction } from '../../shared/db/durable.js';
import { createBootstrapKeyStore } from '../stores/bootstrap-keys.js';

/**
 * Makes the stored bootstrap keys match TC_API_KEYS, by digest and idempotently: a listed key
 * not stored yet is added (tier enterprise, all scopes); a stored bootstrap key no longer
 * listed is revoked. A listed key an operator revoked stays revoked.
 */
export function syncBootstrapKeys(db: Db, keys: ApiKeyStore, configured: readonly string[]): { added: number; revoked: number } {
  const stored = createBootstrapKeyStore(db);
  return durableTransaction(db, () => {
    const wanted = new Set(configured.map((key) => sha256Hex(key)));
    let added = 0;
    let revoked = 0;
    for (const key of new Set(configured)) {
      if (stored.exists(sha256Hex(key))) continue;
      keys.create({ name: 'bootstrap (TC_API_KEYS)', origin: 'bootstrap', tier: 'enterprise', scopes: KEY_SCOPES, key });
      added += 1;
    }
    for (const row of stored.liveBootstrap()) {
      if (!wanted.has(row.keyHash) && keys.revoke(row.id)) revoked += 1;
    }
    return { added, revoked };
  })();
}
