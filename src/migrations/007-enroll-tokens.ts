import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 7,
  name: 'auth: enrollment tokens users make for their own Guard agents',
  up: enrollTokensSchema,
};

/**
 * Migration v7: users' enrollment tokens. The Auth Server makes and revokes them; the Manager
 * verifies them by digest (joined with the owner, so a suspended owner's tokens stop) and
 * counts the agents each one registered. Rows go with their owner.
 */
function enrollTokensSchema(db: Db): void {
  db.exec(`
    CREATE TABLE enroll_tokens (
      id              TEXT PRIMARY KEY,
      user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name            TEXT NOT NULL,
      token_hash      TEXT NOT NULL UNIQUE,
      prefix          TEXT NOT NULL,
      created_at      TEXT NOT NULL,
      expires_at      TEXT NOT NULL,
      revoked_at      TEXT,
      last_used_at    TEXT,
      agents_enrolled INTEGER NOT NULL DEFAULT 0 CHECK (agents_enrolled >= 0)
    ) STRICT;
    CREATE INDEX enroll_tokens_user ON enroll_tokens (user_id, created_at);
  `);
}
