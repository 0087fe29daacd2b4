import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 5,
  name: 'threat cloud intel: campaigns, correlation, technique index',
  up: intelSchema,
};

/**
 * Migration 5: campaigns and the indexes the analytics read. It only adds tables
 * and triggers; the Threat Cloud core's tables (migration 3) are read, never altered.
 *
 * - `campaigns`: connected groups of IoCs. A group of fewer than 3 IoCs is kept with
 *   `formed_at` NULL so that a third IoC connecting later forms the campaign; only rows with
 *   `formed_at` set are campaigns to the API. Aggregates (severity, activity, counts, MITRE
 *   ids, tags) are refreshed by the correlation job whenever a member is reported again.
 * - `campaign_iocs`: membership; an IoC belongs to at most one group (groups are the
 *   connected components of the correlation graph, so they are disjoint).
 * - `campaign_events`: the timeline (detected, extended, merged).
 * - `campaign_techniques`: MITRE ids per campaign, for the stats' top techniques in SQL.
 * - `ioc_netblocks`: the /24 (IPv4) or /48 (IPv6) of IP IoCs, the key of the netblock rule.
 * - `ioc_techniques`: MITRE technique ids per IoC, kept by triggers from `iocs.metadata`
 *   (`mitreIds`, `mitreId`), so the heatmap never parses JSON of every IoC.
 * - `intel_state`: the correlation watermark (last sightings rowid processed).
 */
function intelSchema(db: Db): void {
  db.exec(`
    CREATE TABLE campaigns (
      id            TEXT PRIMARY KEY,
      name          TEXT NOT NULL DEFAULT '',
      description   TEXT NOT NULL DEFAULT '',
      severity      TEXT NOT NULL DEFAULT 'low' CHECK (severity IN ('low', 'medium', 'high', 'critical')),
      first_seen    TEXT NOT NULL,
      last_activity TEXT NOT NULL,
      ioc_count     INTEGER NOT NULL DEFAULT 0,
      affected_orgs INTEGER NOT NULL DEFAULT 0,
      mitre_ids     TEXT NOT NULL DEFAULT '[]',
      tags          TEXT NOT NULL DEFAULT '[]',
      created_at    TEXT NOT NULL,
      formed_at     TEXT,
      updated_at    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX campaigns_activity ON campaigns (last_activity) WHERE formed_at IS NOT NULL;
    CREATE INDEX campaigns_updated ON campaigns (updated_at) WHERE formed_at IS NOT NULL;
    CREATE INDEX campaigns_severity ON campaigns (severity) WHERE formed_at IS NOT NULL;

    CREATE TABLE campaign_iocs (
      ioc_id      TEXT PRIMARY KEY REFERENCES iocs (id) ON DELETE CASCADE,
      campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
      added_at    TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX campaign_iocs_campaign ON campaign_iocs (campaign_id, ioc_id);

    CREATE TABLE campaign_events (
      seq         INTEGER PRIMARY KEY,
      campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
      at          TEXT NOT NULL,
      event       TEXT NOT NULL,
      details     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX campaign_events_campaign ON campaign_events (campaign_id, at);

    CREATE TABLE campaign_techniques (
      campaign_id  TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
      technique_id TEXT NOT NULL,
      PRIMARY KEY (campaign_id, technique_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX campaign_techniques_technique ON campaign_techniques (technique_id);

    CREATE TABLE ioc_netblocks (
      ioc_id TEXT PRIMARY KEY REFERENCES iocs (id) ON DELETE CASCADE,
      block  TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ioc_netblocks_block ON ioc_netblocks (block, ioc_id);

    CREATE TABLE ioc_techniques (
      ioc_id       TEXT NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
      technique_id TEXT NOT NULL,
      last_seen    TEXT NOT NULL,
      PRIMARY KEY (ioc_id, technique_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ioc_techniques_technique ON ioc_techniques (technique_id, ioc_id);
    CREATE INDEX ioc_techniques_last_seen ON ioc_techniques (last_seen, technique_id);

    CREATE VIEW ioc_technique_source AS
      SELECT i.id AS ioc_id, upper(trim(j.value)) AS technique_id, i.last_seen AS last_seen
      FROM iocs i, json_each(CASE WHEN json_valid(i.metadata) THEN i.metadata ELSE '{}' END, '$.mitreIds') j
      WHERE j.type = 'text' AND trim(j.value) <> ''
      UNION
      SELECT i.id, upper(trim(j.value)), i.last_seen
      FROM iocs i, json_each(CASE WHEN json_valid(i.metadata) THEN i.metadata ELSE '{}' END, '$.mitreId') j
      WHERE j.type = 'text' AND trim(j.value) <> '';

    CREATE TRIGGER iocs_techniques_insert AFTER INSERT ON iocs BEGIN
      INSERT OR IGNORE INTO ioc_techniques (ioc_id, technique_id, last_seen)
        SELECT ioc_id, technique_id, last_seen FROM ioc_technique_source WHERE ioc_id = NEW.id;
    END;
    CREATE TRIGGER iocs_techniques_update AFTER UPDATE OF metadata ON iocs
      WHEN OLD.metadata IS NOT NEW.metadata BEGIN
      DELETE FROM ioc_techniques WHERE ioc_id = NEW.id;
      INSERT OR IGNORE INTO ioc_techniques (ioc_id, technique_id, last_seen)
        SELECT ioc_id, technique_id, last_seen FROM ioc_technique_source WHERE ioc_id = NEW.id;
    END;
    -- The heatmap filters by the IoC's last sighting: kept here so it searches a time range.
    CREATE TRIGGER iocs_techniques_last_seen AFTER UPDATE OF last_seen ON iocs
      WHEN OLD.last_seen IS NOT NEW.last_seen BEGIN
      UPDATE ioc_techniques SET last_seen = NEW.last_seen WHERE ioc_id = NEW.id;
    END;
    INSERT OR IGNORE INTO ioc_techniques (ioc_id, technique_id, last_seen) SELECT ioc_id, technique_id, last_seen FROM ioc_technique_source;

    CREATE TABLE intel_state (
      name  TEXT PRIMARY KEY,
      value INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO intel_state (name, value) VALUES ('correlated_sighting', 0);
  `);
}
