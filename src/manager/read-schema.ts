import { moveCounterSql } from '../shared/db/counter-sql.js';
import type { Db } from '../shared/db/open.js';
import { rebuildThreatCounts } from './stores/threat-counts.js';

const move = (kind: string, key: string, delta: 1 | -1) => moveCounterSql('fleet_counts', kind, key, delta);

/**
 * The Manager's part of migration 11 (issue 19: no request may hold the shared event loop).
 *
 * - Threat event indexes carry the other list filters after their order columns, so a page
 *   filtered on two or three of org, agent, severity and type is an ordered walk of one index
 *   that never reads a row it does not return (a walk that read rows was 20x slower).
 * - `threat_counts` (see threat-counts.ts) holds counts per window, kind and scope, kept by the
 *   sweeper; `threat_windows` where each window starts and `threat_counted` up to which event
 *   the counts go. Summaries, the overview, an agent's recent threats and list totals read them.
 * - Agents get an index in list order per org, and `fleet_counts` keeps the agents per OS and
 *   per org and the number of policies, by trigger, for totals and the overview.
 */
export function managerReadSchema(db: Db): void {
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
      ${move('os', 'NEW.os', 1)} ${move('org', 'NEW.org_id', 1)}
    END;
    CREATE TRIGGER fleet_counts_agent_delete AFTER DELETE ON agents BEGIN
      ${move('os', 'OLD.os', -1)} ${move('org', 'OLD.org_id', -1)}
    END;
    CREATE TRIGGER fleet_counts_agent_os AFTER UPDATE OF os ON agents WHEN OLD.os IS NOT NEW.os BEGIN
      ${move('os', 'OLD.os', -1)} ${move('os', 'NEW.os', 1)}
    END;
    CREATE TRIGGER fleet_counts_agent_org AFTER UPDATE OF org_id ON agents WHEN OLD.org_id IS NOT NEW.org_id BEGIN
      ${move('org', 'OLD.org_id', -1)} ${move('org', 'NEW.org_id', 1)}
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
