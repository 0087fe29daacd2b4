import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 2,
  name: 'manager: agents, events, policies, stream',
  up: managerSchema,
};

/**
 * Migration 2: the Manager's fleet. Agents (one row per hostname and org), their threat
 * events (kept after the agent is deregistered, so no foreign key), policies with one
 * version counter shared by every scope, and the persisted tail of the live stream.
 * Times used in range filters are stored as epoch milliseconds next to their ISO text,
 * so status and period queries compare integers on an index.
 */
function managerSchema(db: Db): void {
  db.exec(`
    CREATE TABLE agents (
      id               TEXT PRIMARY KEY,
      org_id           TEXT NOT NULL DEFAULT 'default',
      hostname         TEXT NOT NULL,
      os               TEXT NOT NULL,
      version          TEXT NOT NULL,
      ip               TEXT NOT NULL,
      tags             TEXT NOT NULL DEFAULT '[]',
      token_hash       TEXT NOT NULL UNIQUE,
      status           TEXT NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'stale', 'offline')),
      status_changed_at TEXT NOT NULL,
      last_heartbeat_ms INTEGER NOT NULL,
      cpu              REAL,
      memory           REAL,
      uptime           REAL,
      policy_version   TEXT,
      registered_at    TEXT NOT NULL,
      UNIQUE (org_id, hostname)
    ) STRICT;
    -- One index on the heartbeat time serves the status filters and the sweeper; each more
    -- index holding it would be rewritten by every heartbeat (measured: ~2x the UPDATE cost).
    CREATE INDEX agents_last_heartbeat ON agents (last_heartbeat_ms);
    CREATE INDEX agents_registered ON agents (registered_at, id);
    CREATE INDEX agents_os ON agents (os);

    CREATE TABLE agent_tags (
      agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
      tag      TEXT NOT NULL,
      PRIMARY KEY (agent_id, tag)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX agent_tags_tag ON agent_tags (tag, agent_id);

    CREATE TABLE threat_events (
      seq          INTEGER PRIMARY KEY,
      id           TEXT NOT NULL UNIQUE,
      agent_id     TEXT NOT NULL,
      org_id       TEXT NOT NULL,
      hostname     TEXT NOT NULL,
      type         TEXT NOT NULL,
      severity     TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
      confidence   REAL,
      rule_id      TEXT,
      details      TEXT NOT NULL,
      source_ip    TEXT,
      timestamp    TEXT NOT NULL,
      timestamp_ms INTEGER NOT NULL,
      received_at  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX threat_events_time ON threat_events (timestamp_ms, seq);
    CREATE INDEX threat_events_org_time ON threat_events (org_id, timestamp_ms, seq);
    CREATE INDEX threat_events_agent_time ON threat_events (agent_id, timestamp_ms, seq);
    CREATE INDEX threat_events_severity_time ON threat_events (severity, timestamp_ms, seq);
    CREATE INDEX threat_events_type_time ON threat_events (type, timestamp_ms, seq);

    CREATE TABLE policies (
      id             TEXT PRIMARY KEY,
      org_id         TEXT,
      agent_id       TEXT,
      version        INTEGER NOT NULL UNIQUE,
      name           TEXT NOT NULL,
      description    TEXT,
      rules          TEXT NOT NULL,
      broadcasted_to INTEGER NOT NULL DEFAULT 0,
      created_at     TEXT NOT NULL,
      removed_at     TEXT
    ) STRICT;
    CREATE INDEX policies_scope ON policies (org_id, version) WHERE agent_id IS NULL;
    CREATE INDEX policies_agent ON policies (agent_id, version) WHERE agent_id IS NOT NULL AND removed_at IS NULL;

    CREATE TABLE stream_events (
      id         INTEGER PRIMARY KEY AUTOINCREMENT,
      event      TEXT NOT NULL,
      data       TEXT NOT NULL,
      created_at TEXT NOT NULL
    ) STRICT;
  `);
}
