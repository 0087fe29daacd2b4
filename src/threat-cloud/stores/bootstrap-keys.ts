import type { Db } from '../../shared/db/open.js';

/** The two reads that match TC_API_KEYS against stored keys, by digest. */
export function createBootstrapKeyStore(db: Db) {
  const anyWithHash = db.prepare<[string], { id: string }>(`SELECT id FROM api_keys WHERE key_hash = ?`);
  const liveBootstrap = db.prepare<[], { id: string; key_hash: string }>(
    `SELECT id, key_hash FROM api_keys WHERE origin = 'bootstrap' AND revoked_at IS NULL`,
  );
  return {
    /** Whether any key, revoked or not, has this digest. */
    exists(keyHash: string): boolean {
      return anyWithHash.get(keyHash) !== undefined;
    },
    liveBootstrap(): Array<{ id: string; keyHash: string }> {
      return liveBootstrap.all().map((row) => ({ id: row.id, keyHash: row.key_hash }));
    },
  };
}
