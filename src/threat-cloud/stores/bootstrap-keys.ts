import { defineStatement, type Queryable } from '../../shared/db/storage.js';

const BOOTSTRAP_KEY_READS = {
  anyWithHash: defineStatement<[keyHash: string], { id: string }>(`SELECT id FROM api_keys WHERE key_hash = ?`),
  liveBootstrap: defineStatement<void, { id: string; key_hash: string }>(
    `SELECT id, key_hash FROM api_keys WHERE origin = 'bootstrap' AND revoked_at IS NULL`,
  ),
};

/** The two reads that match TC_API_KEYS against stored keys, by digest. */
export function createBootstrapKeyStore() {
  return {
    /** Whether any key, revoked or not, has this digest. */
    async exists(q: Queryable, keyHash: string): Promise<boolean> {
      return (await q.get(BOOTSTRAP_KEY_READS.anyWithHash, [keyHash])) !== undefined;
    },
    async liveBootstrap(q: Queryable): Promise<Array<{ id: string; keyHash: string }>> {
      return (await q.all(BOOTSTRAP_KEY_READS.liveBootstrap)).map((row) => ({ id: row.id, keyHash: row.key_hash }));
    },
  };
}
