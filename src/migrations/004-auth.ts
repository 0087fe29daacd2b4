import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 4,
  name: 'auth: sessions, totp, reset, mail, billing, audit',
  up: authSchema,
};

/**
 * Migration v4, the Auth Server's own tables next to the core `users`: sessions that back
 * every JWT, TOTP secrets and backup codes, password-reset tokens, the mail outbox,
 * subscriptions and processed webhook deliveries, the audit trail and failure counters
 * for account lockout. Rows about a user cascade away with the user.
 */
function authSchema(db: Db): void {
  db.exec(`
    CREATE TABLE sessions (
      id           TEXT PRIMARY KEY,
      user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      created_at   TEXT NOT NULL,
      expires_at   TEXT NOT NULL,
      last_used_at TEXT NOT NULL,
      ip           TEXT,
      user_agent   TEXT
    ) STRICT;
    CREATE INDEX sessions_user ON sessions (user_id, created_at);
    CREATE INDEX sessions_expires ON sessions (expires_at);
    CREATE INDEX sessions_created ON sessions (created_at);

    CREATE TABLE totp_secrets (
      user_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      secret_encrypted TEXT NOT NULL,
      enabled          INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
      last_used_step   INTEGER,
      created_at       TEXT NOT NULL,
      enabled_at       TEXT
    ) STRICT;
    CREATE INDEX totp_enabled ON totp_secrets (enabled);

    CREATE TABLE totp_backup_codes (
      id        INTEGER PRIMARY KEY,
      user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      code_hash TEXT NOT NULL,
      used_at   TEXT
    ) STRICT;
    CREATE INDEX totp_backup_codes_user ON totp_backup_codes (user_id);

    CREATE TABLE password_reset_tokens (
      token_hash TEXT PRIMARY KEY,
      user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      created_at TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      used_at    TEXT
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX password_reset_tokens_user ON password_reset_tokens (user_id);
    CREATE INDEX password_reset_tokens_expires ON password_reset_tokens (expires_at);

    CREATE TABLE outbox (
      id           TEXT PRIMARY KEY,
      user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
      recipient    TEXT NOT NULL,
      subject      TEXT NOT NULL,
      body         TEXT NOT NULL,
      status       TEXT NOT NULL CHECK (status IN ('stored', 'pending', 'sent', 'failed')),
      attempts     INTEGER NOT NULL DEFAULT 0,
      last_error   TEXT,
      created_at   TEXT NOT NULL,
      expires_at   TEXT NOT NULL,
      sent_at      TEXT
    ) STRICT;
    CREATE INDEX outbox_status ON outbox (status, created_at);
    CREATE INDEX outbox_expires ON outbox (expires_at);
    CREATE INDEX outbox_user ON outbox (user_id);

    CREATE TABLE subscriptions (
      user_id                  TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      provider_subscription_id TEXT UNIQUE,
      variant_id               TEXT,
      status                   TEXT NOT NULL,
      renews_at                TEXT,
      ends_at                  TEXT,
      last_event_at            TEXT,
      updated_at               TEXT NOT NULL
    ) STRICT;

    CREATE TABLE billing_webhook_deliveries (
      delivery_id TEXT PRIMARY KEY,
      event_name  TEXT NOT NULL,
      received_at TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE audit_log (
      id         TEXT PRIMARY KEY,
      action     TEXT NOT NULL,
      actor_id   TEXT,
      target_id  TEXT,
      ip         TEXT,
      details    TEXT NOT NULL DEFAULT '{}',
      created_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_log_created ON audit_log (created_at);
    CREATE INDEX audit_log_action ON audit_log (action, created_at);
    CREATE INDEX audit_log_actor ON audit_log (actor_id, created_at);
    CREATE INDEX audit_log_target ON audit_log (target_id, created_at);

    CREATE TABLE auth_failures (
      key          TEXT PRIMARY KEY,
      count        INTEGER NOT NULL,
      window_ends  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX auth_failures_window ON auth_failures (window_ends);
  `);
}
