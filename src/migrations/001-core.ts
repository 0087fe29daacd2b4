import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 1,
  name: 'core: users, api keys, usage counters',
  up: coreSchema,
};

/**
 * Tables more than one service reads: accounts (Auth writes, Threat Cloud reads the owner's
 * tier), API keys (Auth makes user keys, the operator makes others, Threat Cloud verifies),
 * and usage counters (Threat Cloud counts calls, Auth reports them).
 */
function coreSchema(db: Db): void {
  db.exec(`
    CREATE TABLE users (
      id             TEXT PRIMARY KEY,
      email          TEXT NOT NULL UNIQUE,
      name           TEXT NOT NULL,
      password_hash  TEXT NOT NULL,
      role           TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
      tier           TEXT NOT NULL DEFAULT 'community'
                     CHECK (tier IN ('community', 'solo', 'pro', 'business', 'enterprise')),
      suspended      INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
      plan_expires_at TEXT,
      created_at     TEXT NOT NULL,
      updated_at     TEXT NOT NULL,
      last_login_at  TEXT
    ) STRICT;
    CREATE INDEX users_role ON users (role);
    CREATE INDEX users_tier ON users (tier);
    CREATE INDEX users_created_at ON users (created_at);
    CREATE INDEX users_name ON users (name);

    CREATE TABLE api_keys (
      id            TEXT PRIMARY KEY,
      name          TEXT NOT NULL,
      key_hash      TEXT NOT NULL UNIQUE,
      prefix        TEXT NOT NULL,
      masked        TEXT NOT NULL,
      origin        TEXT NOT NULL CHECK (origin IN ('user', 'operator', 'bootstrap')),
      owner_user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
      tier          TEXT CHECK (tier IS NULL OR tier IN ('community', 'solo', 'pro', 'business', 'enterprise')),
      scopes        TEXT NOT NULL,
      created_at    TEXT NOT NULL,
      revoked_at    TEXT,
      CHECK ((origin = 'user') = (owner_user_id IS NOT NULL)),
      CHECK (origin = 'user' OR tier IS NOT NULL)
    ) STRICT;
    CREATE INDEX api_keys_owner ON api_keys (owner_user_id) WHERE owner_user_id IS NOT NULL;

    CREATE TABLE usage_counters (
      user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      resource TEXT NOT NULL,
      period   TEXT NOT NULL,
      count    INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (user_id, resource, period)
    ) STRICT, WITHOUT ROWID;
  `);
}
