import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 12,
  name: 'shared: API-key generation counter kept by triggers, so verified keys can be cached exactly',
  up: keyGenerationSchema,
};

/** What `api_key_generation` is kept by: every write that can change what a key may do. */
const BUMP = `UPDATE api_key_generation SET n = n + 1 WHERE id = 1`;

/**
 * Migration 12: a counter that moves whenever anything a verified API key depends
 * on changes, so the Threat Cloud can keep verified keys in memory and still see a revocation,
 * a suspension or a tier change on the very next request. Triggers keep it, in the
 * transaction of the write, whichever code or process writes: the Auth routes, the Threat
 * Cloud's key administration, `npm run keys` on another connection, or plain SQL. A
 * verifier reads the one row per request and drops what it cached when the number differs.
 *
 * What a key's verification reads (src/shared/api-keys.ts): its own row (any column: revoked,
 * scopes, tier of service keys, owner), and of its owner's row the tier and the suspension.
 * A new key bumps it too, cheaply: nothing may have been cached as "unknown" under it.
 */
function keyGenerationSchema(db: Db): void {
  db.exec(`
    CREATE TABLE api_key_generation (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      n  INTEGER NOT NULL
    ) STRICT;
    INSERT INTO api_key_generation (id, n) VALUES (1, 0);

    CREATE TRIGGER api_key_generation_key_insert AFTER INSERT ON api_keys BEGIN ${BUMP}; END;
    CREATE TRIGGER api_key_generation_key_update AFTER UPDATE ON api_keys BEGIN ${BUMP}; END;
    CREATE TRIGGER api_key_generation_key_delete AFTER DELETE ON api_keys BEGIN ${BUMP}; END;
    CREATE TRIGGER api_key_generation_owner_update AFTER UPDATE OF id, tier, suspended ON users
      WHEN OLD.id IS NOT NEW.id OR OLD.tier IS NOT NEW.tier OR OLD.suspended IS NOT NEW.suspended BEGIN ${BUMP}; END;
    CREATE TRIGGER api_key_generation_owner_delete AFTER DELETE ON users BEGIN ${BUMP}; END;
  `);
}
