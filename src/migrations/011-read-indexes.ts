import { moveCounterSql } from '../shared/db/counter-sql.js';
import type { Migration } from '../shared/db/migrate.js';
import type { Db } from '../shared/db/open.js';
import { rebuildThreatCounts } from '../manager/stores/threat-counts.js';

/**
 * One step for both services (no request may hold the event loop all three share): their
 * read paths shipped together as one version, so they stay one transaction and one file.
 */
export const migration: Migration = {
  version: 11,
  name: 'manager and auth: list indexes, kept counts and threat windows, so no list or summary holds the event loop',
  up: (db) => {
    managerReadSchema(db);
    authReadSchema(db);
  },
};

const moveFleet = (kind: string, key: string, delta: 1 | -1) => moveCounterSql('fleet_counts', kind, key, delta);
const moveAuth = (kind: string, key: string, delta: 1 | -1) => moveCounterSql('auth_counts', kind, key, delta);

/**
 * The Manager's part of migration 11 (no request may hold the shared event loop).
 *
 * - Threat event indexes carry the other list filters after their order columns, so a page
 *   filtered on two or three of org, agent, severity and type is an ordered walk of one index
 *   that never reads a row it does not return (a walk that read rows was 20x slower).
 * - `threat_counts` (see manager/stores/threat-counts.ts) holds counts per window, kind and
 *   scope, kept by the sweeper; `threat_windows` where each window starts and `threat_counted`
 *   up to which event the counts go. Summaries, the overview, an agent's recent threats and list totals read them.
 * - Agents get an index in list order per org, and `fleet_counts` keeps the agents per OS and
 *   per org and the number of policies, by trigger, for totals and the overview.
 */
function managerReadSchema(db: Db): void {
  db.exec(`
    DROP INDEX threat_events_org_time;
    DROP INDEX threat_events_agent_time;
    DROP INDEX threat_events_severity_time;
    DROP INDEX threat_events_type_time;
    CREATE INDEX threat_events_org_time ON threat_events (org_id, timestamp_ms, seq, severity, type);
    CREATE INDEX threat_events_agent_time ON threat_events (agent_id, timestamp_ms, seq, severity, type, org_id);
    CREATE INDEX threat_events_severity_time ON threat_events (severity, timestamp_ms, seq, type, org_id);
    CREATE INDEX threat_events_type_time ON threat_events (type, timestamp_ms, seq, severity, org_id);

    CREATE TABLE threat_counted (seq INTEGER NOT NULL) STRICT;
    CREATE TABLE threat_windows (
      name      TEXT PRIMARY KEY,
      start_ms  INTEGER NOT NULL,
      start_seq INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE threat_counts (
      win   TEXT NOT NULL,
      kind  TEXT NOT NULL CHECK (kind IN ('severity', 'type', 'agent', 'ip')),
      scope TEXT NOT NULL,
      key   TEXT NOT NULL,
      n     INTEGER NOT NULL,
      label TEXT,
      PRIMARY KEY (win, kind, scope, key)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX threat_counts_ranked ON threat_counts (win, kind, scope, n DESC, key);

    CREATE INDEX agents_org_registered ON agents (org_id, registered_at, id);
    CREATE TABLE fleet_counts (
      kind TEXT NOT NULL CHECK (kind IN ('os', 'org', 'policies')),
      key  TEXT NOT NULL,
      n    INTEGER NOT NULL,
      PRIMARY KEY (kind, key)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO fleet_counts (kind, key, n) SELECT 'os', os, count(*) FROM agents GROUP BY os;
    INSERT INTO fleet_counts (kind, key, n) SELECT 'org', org_id, count(*) FROM agents GROUP BY org_id;
    INSERT INTO fleet_counts (kind, key, n) SELECT 'policies', '', count(*) FROM policies;
    CREATE TRIGGER fleet_counts_agent_insert AFTER INSERT ON agents BEGIN
      ${moveFleet('os', 'NEW.os', 1)} ${moveFleet('org', 'NEW.org_id', 1)}
    END;
    CREATE TRIGGER fleet_counts_agent_delete AFTER DELETE ON agents BEGIN
      ${moveFleet('os', 'OLD.os', -1)} ${moveFleet('org', 'OLD.org_id', -1)}
    END;
    CREATE TRIGGER fleet_counts_agent_os AFTER UPDATE OF os ON agents WHEN OLD.os IS NOT NEW.os BEGIN
      ${moveFleet('os', 'OLD.os', -1)} ${moveFleet('os', 'NEW.os', 1)}
    END;
    CREATE TRIGGER fleet_counts_agent_org AFTER UPDATE OF org_id ON agents WHEN OLD.org_id IS NOT NEW.org_id BEGIN
      ${moveFleet('org', 'OLD.org_id', -1)} ${moveFleet('org', 'NEW.org_id', 1)}
    END;
    CREATE TRIGGER fleet_counts_policy_insert AFTER INSERT ON policies BEGIN
      INSERT INTO fleet_counts (kind, key, n) VALUES ('policies', '', 1) ON CONFLICT (kind, key) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER fleet_counts_policy_delete AFTER DELETE ON policies BEGIN
      UPDATE fleet_counts SET n = n - 1 WHERE kind = 'policies' AND key = '';
    END;
  `);
  rebuildThreatCounts(db, Date.now());
}

/**
 * The Auth Server's part of migration 11 (no request may hold the shared event loop).
 *
 * - Counters kept by triggers, so totals and statistics read a few rows: accounts per role and
 *   tier, signups per UTC day, accounts with TOTP on, and audit entries in all, per action and
 *   per actor.
 * - Indexes in each list's order (newest first) that also carry the other filters, so a page
 *   is an ordered walk that stops after OFFSET + LIMIT matches and reads only the rows it
 *   returns: accounts overall (with e-mail and name for the prefix search), per role and per
 *   tier; live sessions; audit entries per actor and action. Prefix indexes on e-mail and name
 *   (case-insensitive, like the search) count search matches. The single-column indexes the
 *   new ones replace are dropped, and plan expiry and idle sessions get theirs for the sweep.
 */
function authReadSchema(db: Db): void {
  db.exec(`
    DROP INDEX users_role;
    DROP INDEX users_tier;
    DROP INDEX users_created_at;
    DROP INDEX users_name;
    CREATE INDEX users_list ON users (created_at DESC, id, role, tier, email, name);
    CREATE INDEX users_role_list ON users (role, created_at DESC, id, tier);
    CREATE INDEX users_tier_list ON users (tier, created_at DESC, id, role);
    CREATE INDEX users_email_prefix ON users (email COLLATE NOCASE, role, tier);
    CREATE INDEX users_name_prefix ON users (name COLLATE NOCASE, role, tier);
    CREATE INDEX users_plan_expires ON users (plan_expires_at) WHERE plan_expires_at IS NOT NULL;

    DROP INDEX sessions_expires;
    DROP INDEX sessions_created;
    CREATE INDEX sessions_list ON sessions (created_at DESC, id, expires_at, last_used_at);
    CREATE INDEX sessions_live ON sessions (expires_at, last_used_at);
    CREATE INDEX sessions_last_used ON sessions (last_used_at);

    CREATE INDEX audit_log_actor_action ON audit_log (actor_id, action, created_at);

    CREATE TABLE user_counts (
      role TEXT NOT NULL,
      tier TEXT NOT NULL,
      n    INTEGER NOT NULL,
      PRIMARY KEY (role, tier)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE user_signups (
      day TEXT PRIMARY KEY,
      n   INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE auth_counts (
      kind TEXT NOT NULL CHECK (kind IN ('totp', 'audit', 'audit_action', 'audit_actor')),
      key  TEXT NOT NULL,
      n    INTEGER NOT NULL,
      PRIMARY KEY (kind, key)
    ) STRICT, WITHOUT ROWID;

    INSERT INTO user_counts (role, tier, n) SELECT role, tier, count(*) FROM users GROUP BY role, tier;
    INSERT INTO user_signups (day, n) SELECT substr(created_at, 1, 10), count(*) FROM users GROUP BY 1;
    INSERT INTO auth_counts (kind, key, n) SELECT 'totp', 'enabled', count(*) FROM totp_secrets WHERE enabled = 1 HAVING count(*) > 0;
    INSERT INTO auth_counts (kind, key, n) SELECT 'audit', '', count(*) FROM audit_log HAVING count(*) > 0;
    INSERT INTO auth_counts (kind, key, n) SELECT 'audit_action', action, count(*) FROM audit_log GROUP BY action;
    INSERT INTO auth_counts (kind, key, n) SELECT 'audit_actor', actor_id, count(*) FROM audit_log WHERE actor_id IS NOT NULL GROUP BY actor_id;

    CREATE TRIGGER user_counts_insert AFTER INSERT ON users BEGIN
      INSERT INTO user_counts (role, tier, n) VALUES (NEW.role, NEW.tier, 1) ON CONFLICT (role, tier) DO UPDATE SET n = n + 1;
      INSERT INTO user_signups (day, n) VALUES (substr(NEW.created_at, 1, 10), 1) ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER user_counts_delete AFTER DELETE ON users BEGIN
      UPDATE user_counts SET n = n - 1 WHERE role = OLD.role AND tier = OLD.tier;
      UPDATE user_signups SET n = n - 1 WHERE day = substr(OLD.created_at, 1, 10);
      DELETE FROM user_signups WHERE day = substr(OLD.created_at, 1, 10) AND n <= 0;
    END;
    CREATE TRIGGER user_counts_update AFTER UPDATE OF role, tier ON users
      WHEN OLD.role IS NOT NEW.role OR OLD.tier IS NOT NEW.tier BEGIN
      UPDATE user_counts SET n = n - 1 WHERE role = OLD.role AND tier = OLD.tier;
      INSERT INTO user_counts (role, tier, n) VALUES (NEW.role, NEW.tier, 1) ON CONFLICT (role, tier) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER user_signups_update AFTER UPDATE OF created_at ON users
      WHEN substr(OLD.created_at, 1, 10) IS NOT substr(NEW.created_at, 1, 10) BEGIN
      UPDATE user_signups SET n = n - 1 WHERE day = substr(OLD.created_at, 1, 10);
      DELETE FROM user_signups WHERE day = substr(OLD.created_at, 1, 10) AND n <= 0;
      INSERT INTO user_signups (day, n) VALUES (substr(NEW.created_at, 1, 10), 1) ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;

    CREATE TRIGGER totp_counts_insert AFTER INSERT ON totp_secrets WHEN NEW.enabled = 1 BEGIN
      ${moveAuth('totp', "'enabled'", 1)}
    END;
    CREATE TRIGGER totp_counts_delete AFTER DELETE ON totp_secrets WHEN OLD.enabled = 1 BEGIN
      ${moveAuth('totp', "'enabled'", -1)}
    END;
    CREATE TRIGGER totp_counts_on AFTER UPDATE OF enabled ON totp_secrets WHEN OLD.enabled = 0 AND NEW.enabled = 1 BEGIN
      ${moveAuth('totp', "'enabled'", 1)}
    END;
    CREATE TRIGGER totp_counts_off AFTER UPDATE OF enabled ON totp_secrets WHEN OLD.enabled = 1 AND NEW.enabled = 0 BEGIN
      ${moveAuth('totp', "'enabled'", -1)}
    END;

    CREATE TRIGGER audit_counts_insert AFTER INSERT ON audit_log BEGIN
      ${moveAuth('audit', "''", 1)}
      ${moveAuth('audit_action', 'NEW.action', 1)}
      INSERT INTO auth_counts (kind, key, n) SELECT 'audit_actor', NEW.actor_id, 1 WHERE NEW.actor_id IS NOT NULL
        ON CONFLICT (kind, key) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER audit_counts_delete AFTER DELETE ON audit_log BEGIN
      ${moveAuth('audit', "''", -1)}
      ${moveAuth('audit_action', 'OLD.action', -1)}
      ${moveAuth('audit_actor', 'OLD.actor_id', -1)}
    END;
    CREATE TRIGGER audit_counts_action AFTER UPDATE OF action ON audit_log WHEN OLD.action IS NOT NEW.action BEGIN
      ${moveAuth('audit_action', 'OLD.action', -1)}
      ${moveAuth('audit_action', 'NEW.action', 1)}
    END;
    CREATE TRIGGER audit_counts_actor AFTER UPDATE OF actor_id ON audit_log WHEN OLD.actor_id IS NOT NEW.actor_id BEGIN
      ${moveAuth('audit_actor', 'OLD.actor_id', -1)}
      INSERT INTO auth_counts (kind, key, n) SELECT 'audit_actor', NEW.actor_id, 1 WHERE NEW.actor_id IS NOT NULL
        ON CONFLICT (kind, key) DO UPDATE SET n = n + 1;
    END;
  `);
}
