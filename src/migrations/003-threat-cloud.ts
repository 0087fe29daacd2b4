import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 3,
  name: 'threat cloud: iocs, sightings, feeds, audit',
  up: threatCloudSchema,
};

/**
 * Migration 3: the Threat Cloud's own tables.
 *
 * - `iocs`: one row per (type, normalised value). `change_seq` is the IoC's position in the
 *   one monotonic change sequence (`tc_state` row `seq`) that the JSON feed's cursor and the
 *   agent update's `v<seq>` versions walk; an IoC holds only its latest position, so a
 *   consumer paging by cursor sees every change exactly once, in its latest state.
 * - `ioc_reporters`: distinct reporters per IoC (a user's keys are one reporter, each
 *   service key one, a Manager org one): what the reputation's corroboration counts.
 * - `sightings`: every report (upload, sighting, trap observation); `iocs.sightings` equals
 *   the number of rows of an IoC here.
 * - `ioc_sources` / `tc_sources`: sources per IoC (the `source` filter) and distinct sources.
 * - `ioc_relations`: links made by trap intel (`dropped`, `contacted`), read by campaigns.
 * - `ioc_counts`: counts by type, category and status kept by triggers, so /health and
 *   /api/stats never scan a million rows.
 * - `tc_rules`: detection rules for agents, with tombstones so deletions reach agents.
 * - `trap_events`, `trap_credentials`: honeypot observations; credentials only as counts per
 *   SHA-256 of the username, never in clear.
 * - `tc_audit_log`: every write (same transaction) and batched query audits.
 */
function threatCloudSchema(db: Db): void {
  db.exec(`
    CREATE TABLE tc_state (
      name       TEXT PRIMARY KEY,
      value      INTEGER NOT NULL,
      updated_at TEXT
    ) STRICT, WITHOUT ROWID;
    INSERT INTO tc_state (name, value, updated_at) VALUES ('seq', 0, NULL), ('refresh', 0, NULL);

    CREATE TABLE iocs (
      id          TEXT PRIMARY KEY,
      type        TEXT NOT NULL CHECK (type IN ('ip', 'domain', 'hash', 'url', 'email', 'cve')),
      value       TEXT NOT NULL,
      reputation  INTEGER NOT NULL CHECK (reputation BETWEEN 0 AND 100),
      status      TEXT NOT NULL CHECK (status IN ('active', 'expired', 'whitelisted', 'revoked')),
      category    TEXT CHECK (category IS NULL OR category IN ('malware', 'botnet', 'phishing', 'bruteforce', 'scanner', 'exploit', 'c2')),
      severity    TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
      confidence  REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
      sightings   INTEGER NOT NULL DEFAULT 1,
      reporters   INTEGER NOT NULL DEFAULT 1,
      trap        INTEGER NOT NULL DEFAULT 0 CHECK (trap IN (0, 1)),
      source      TEXT NOT NULL,
      sources     TEXT NOT NULL DEFAULT '[]',
      metadata    TEXT NOT NULL DEFAULT '{}',
      country     TEXT,
      first_seen  TEXT NOT NULL,
      last_seen   TEXT NOT NULL,
      updated_at  TEXT NOT NULL,
      change_seq  INTEGER NOT NULL,
      UNIQUE (type, value)
    ) STRICT;
    CREATE UNIQUE INDEX iocs_change_seq ON iocs (change_seq);
    CREATE INDEX iocs_feed ON iocs (type, status, reputation, last_seen DESC);
    CREATE INDEX iocs_listing ON iocs (status, reputation, last_seen DESC);
    CREATE INDEX iocs_reputation ON iocs (reputation, last_seen DESC);
    CREATE INDEX iocs_value ON iocs (value);
    CREATE INDEX iocs_category ON iocs (category, last_seen);
    CREATE INDEX iocs_first_seen ON iocs (first_seen);
    CREATE INDEX iocs_last_seen ON iocs (last_seen);
    CREATE INDEX iocs_status_last_seen ON iocs (status, last_seen);
    CREATE INDEX iocs_updated_at ON iocs (updated_at);
    CREATE INDEX iocs_country ON iocs (country, last_seen) WHERE country IS NOT NULL;

    CREATE TABLE ioc_counts (
      type     TEXT NOT NULL,
      category TEXT NOT NULL,
      status   TEXT NOT NULL,
      n        INTEGER NOT NULL,
      PRIMARY KEY (type, category, status)
    ) STRICT, WITHOUT ROWID;
    CREATE TRIGGER iocs_count_insert AFTER INSERT ON iocs BEGIN
      INSERT INTO ioc_counts (type, category, status, n) VALUES (NEW.type, coalesce(NEW.category, ''), NEW.status, 1)
        ON CONFLICT (type, category, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER iocs_count_update AFTER UPDATE OF type, category, status ON iocs
      WHEN OLD.type IS NOT NEW.type OR OLD.category IS NOT NEW.category OR OLD.status IS NOT NEW.status BEGIN
      UPDATE ioc_counts SET n = n - 1 WHERE type = OLD.type AND category = coalesce(OLD.category, '') AND status = OLD.status;
      INSERT INTO ioc_counts (type, category, status, n) VALUES (NEW.type, coalesce(NEW.category, ''), NEW.status, 1)
        ON CONFLICT (type, category, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER iocs_count_delete AFTER DELETE ON iocs BEGIN
      UPDATE ioc_counts SET n = n - 1 WHERE type = OLD.type AND category = coalesce(OLD.category, '') AND status = OLD.status;
    END;

    CREATE TABLE ioc_reporters (
      ioc_id      TEXT NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
      reporter_id TEXT NOT NULL,
      first_seen  TEXT NOT NULL,
      PRIMARY KEY (ioc_id, reporter_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ioc_reporters_reporter ON ioc_reporters (reporter_id, first_seen);

    CREATE TABLE sightings (
      id          TEXT PRIMARY KEY,
      ioc_id      TEXT NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
      kind        TEXT NOT NULL CHECK (kind IN ('upload', 'sighting', 'trap')),
      source      TEXT NOT NULL,
      reporter_id TEXT NOT NULL,
      context     TEXT,
      created_at  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX sightings_ioc ON sightings (ioc_id, created_at DESC);
    CREATE INDEX sightings_created_at ON sightings (created_at);

    CREATE TABLE ioc_sources (
      source TEXT NOT NULL,
      ioc_id TEXT NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
      PRIMARY KEY (source, ioc_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ioc_sources_ioc ON ioc_sources (ioc_id);
    CREATE TABLE tc_sources (
      source     TEXT PRIMARY KEY,
      first_seen TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE ioc_relations (
      from_id    TEXT NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
      to_id      TEXT NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
      relation   TEXT NOT NULL CHECK (relation IN ('dropped', 'contacted')),
      created_at TEXT NOT NULL,
      PRIMARY KEY (from_id, to_id, relation)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ioc_relations_to ON ioc_relations (to_id);
    CREATE INDEX ioc_relations_created_at ON ioc_relations (created_at);

    CREATE TABLE trap_events (
      id             TEXT PRIMARY KEY,
      trap_id        TEXT NOT NULL,
      honeypot_type  TEXT NOT NULL CHECK (honeypot_type IN ('ssh', 'http', 'ftp', 'smtp', 'custom')),
      attacker_ioc_id TEXT NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
      interactions   INTEGER NOT NULL,
      credentials    INTEGER NOT NULL,
      payloads       INTEGER NOT NULL,
      reporter_id    TEXT NOT NULL,
      created_at     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX trap_events_attacker ON trap_events (attacker_ioc_id, created_at);
    CREATE INDEX trap_events_created_at ON trap_events (created_at);

    CREATE TABLE trap_credentials (
      trap_id       TEXT NOT NULL,
      username_hash TEXT NOT NULL,
      attempts      INTEGER NOT NULL,
      last_seen     TEXT NOT NULL,
      PRIMARY KEY (trap_id, username_hash)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE tc_rules (
      id         TEXT PRIMARY KEY,
      name       TEXT NOT NULL,
      content    TEXT NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      deleted_at TEXT,
      change_seq INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX tc_rules_change_seq ON tc_rules (change_seq);

    CREATE TABLE tc_audit_log (
      id         TEXT PRIMARY KEY,
      action     TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete', 'query')),
      resource   TEXT NOT NULL,
      details    TEXT NOT NULL DEFAULT '{}',
      api_key    TEXT,
      ip         TEXT,
      created_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX tc_audit_log_created_at ON tc_audit_log (created_at);
    CREATE INDEX tc_audit_log_action ON tc_audit_log (action, created_at);
  `);
}
