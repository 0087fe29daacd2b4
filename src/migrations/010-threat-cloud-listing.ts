import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';
import { COUNT_KEY, RANK_COUNTS_FROM_IOCS, SOURCE_RANK_FROM_IOCS } from '../threat-cloud/stores/listing-fills.js';

export const migration: Migration = {
  version: 10,
  name: 'threat cloud: list indexes and counters, so no list or statistic stalls the process',
  up: listingSchema,
};

/** What an IoC's filter columns are called in `ioc_rank_counts` and `ioc_source_counts` ('' for no category). */
const counted = (row: 'NEW' | 'OLD') => `${row}.type, coalesce(${row}.category, ''), ${row}.status, ${row}.reputation`;
/** An update that moves the IoC to another count. */
const RECOUNTED = `OLD.type IS NOT NEW.type OR OLD.category IS NOT NEW.category OR OLD.status IS NOT NEW.status OR OLD.reputation IS NOT NEW.reputation`;
/** A formed campaign (groups below 3 IoCs are no campaign yet). */
const formed = (campaignId: string) => `EXISTS (SELECT 1 FROM campaigns WHERE id = ${campaignId} AND formed_at IS NOT NULL)`;
const inFormedCampaign = (iocId: string) =>
  `EXISTS (SELECT 1 FROM campaign_iocs m JOIN campaigns c ON c.id = m.campaign_id WHERE m.ioc_id = ${iocId} AND c.formed_at IS NOT NULL)`;

/**
 * Migration 10: what lets every list and statistic of the Threat Cloud answer in
 * about the time of its first page at a million rows, because one slow query stalls all three
 * services (better-sqlite3 runs on the one event loop). Counters are kept exact by triggers in
 * the transaction of the write, as `ioc_counts` is; rows only ever go in one of these tables
 * through the triggers (or the one-off fills below).
 *
 * - `iocs_rank*`: the IoC list's order (reputation, then last seen newest first, then change
 *   position) after an equality prefix (none, type, category, status), with every other
 *   filter column (`updated_at` for `since`, `value` for `q`) in the index, so a filtered
 *   list is read in order from an index alone and a page stops after offset + limit entries.
 *   They replace `iocs_reputation` and `iocs_listing`, which were their prefixes; and as
 *   every report moves an IoC in each index holding `last_seen`, the three no statement
 *   reads any more (`iocs_category`, `iocs_last_seen`, `iocs_status_last_seen`) go, so a
 *   report costs about what it did before.
 * - `ioc_rank_counts`: IoCs per type, category, status and reputation: the exact total of
 *   every list filtered by those, and how large each index prefix is (which one to walk).
 * - `ioc_source_rank` / `ioc_source_counts`: the same order and counts per source (an IoC
 *   has several), for the `source` filter. `change_seq` is unique per IoC and names it.
 * - `tc_report_hours`: reports per UTC hour and category, every status (the stats' top
 *   category of the last day); `tc_list_totals`: reports, distinct sources, and IoCs in
 *   formed campaigns.
 * - `tc_audit_hours`: audit entries per action and hour (totals of the audit log).
 * - `campaign_reporters` / `campaign_technique_counts`: formed-campaign memberships per
 *   reporter and formed campaigns per ATT&CK technique (the campaign statistics).
 * - `campaigns_listing`: the campaign list's order with the columns its filters and
 *   statistics read.
 *
 * Every trigger's name starts with `LISTING_TRIGGER_PREFIX` (stores/listing-fills.ts): the seed sets
 * them aside during a bulk load and fills the counters with the same statements as this step.
 *
 * IoCs, reports and sources are never deleted (statuses change instead). The IoC, source,
 * audit and campaign counters follow deletions anyway; the report hours, like `intel_hourly`,
 * count on reports staying.
 */
function listingSchema(db: Db): void {
  // The fills join a million IoCs to their sources and members: with the default 2 MiB page
  // cache each probe reads its page again (about 2 minutes instead of 45 s for 1M IoCs).
  const cacheSize = db.pragma('cache_size', { simple: true }) as number;
  db.pragma('cache_size = -262144');
  try {
    createListingTables(db);
  } finally {
    db.pragma(`cache_size = ${cacheSize}`);
  }
}

function createListingTables(db: Db): void {
  db.exec(`
    DROP INDEX iocs_reputation;
    DROP INDEX iocs_listing;
    DROP INDEX iocs_category;
    DROP INDEX iocs_last_seen;
    DROP INDEX iocs_status_last_seen;
    CREATE INDEX iocs_rank ON iocs (reputation, last_seen DESC, change_seq, type, category, status, updated_at, value);
    CREATE INDEX iocs_rank_type ON iocs (type, reputation, last_seen DESC, change_seq, category, status, updated_at, value);
    CREATE INDEX iocs_rank_category ON iocs (category, reputation, last_seen DESC, change_seq, type, status, updated_at, value);
    CREATE INDEX iocs_rank_status ON iocs (status, reputation, last_seen DESC, change_seq, type, category, updated_at, value);

    CREATE TABLE ioc_rank_counts (
      type       TEXT NOT NULL,
      category   TEXT NOT NULL,
      status     TEXT NOT NULL,
      reputation INTEGER NOT NULL,
      n          INTEGER NOT NULL,
      PRIMARY KEY (${COUNT_KEY})
    ) STRICT, WITHOUT ROWID;
    ${RANK_COUNTS_FROM_IOCS('1')};
    CREATE TRIGGER tc_list_rank_insert AFTER INSERT ON iocs BEGIN
      INSERT INTO ioc_rank_counts (${COUNT_KEY}, n) VALUES (${counted('NEW')}, 1)
        ON CONFLICT (${COUNT_KEY}) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER tc_list_rank_update AFTER UPDATE OF type, category, status, reputation ON iocs WHEN ${RECOUNTED} BEGIN
      UPDATE ioc_rank_counts SET n = n - 1
        WHERE type = OLD.type AND category = coalesce(OLD.category, '') AND status = OLD.status AND reputation = OLD.reputation;
      INSERT INTO ioc_rank_counts (${COUNT_KEY}, n) VALUES (${counted('NEW')}, 1)
        ON CONFLICT (${COUNT_KEY}) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER tc_list_rank_delete AFTER DELETE ON iocs BEGIN
      UPDATE ioc_rank_counts SET n = n - 1
        WHERE type = OLD.type AND category = coalesce(OLD.category, '') AND status = OLD.status AND reputation = OLD.reputation;
    END;

    CREATE TABLE ioc_source_rank (
      source     TEXT NOT NULL,
      reputation INTEGER NOT NULL,
      last_seen  TEXT NOT NULL,
      change_seq INTEGER NOT NULL,
      type       TEXT NOT NULL,
      category   TEXT,
      status     TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      value      TEXT NOT NULL,
      PRIMARY KEY (source, reputation, last_seen DESC, change_seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ioc_source_rank_seq ON ioc_source_rank (change_seq);
    CREATE TABLE ioc_source_counts (
      source     TEXT NOT NULL,
      type       TEXT NOT NULL,
      category   TEXT NOT NULL,
      status     TEXT NOT NULL,
      reputation INTEGER NOT NULL,
      n          INTEGER NOT NULL,
      PRIMARY KEY (source, ${COUNT_KEY})
    ) STRICT, WITHOUT ROWID;
    ${SOURCE_RANK_FROM_IOCS('1')};
    INSERT INTO ioc_source_counts (source, ${COUNT_KEY}, n)
      SELECT source, type, coalesce(category, ''), status, reputation, count(*) FROM ioc_source_rank GROUP BY 1, 2, 3, 4, 5;
    CREATE TRIGGER tc_list_source_insert AFTER INSERT ON ioc_sources BEGIN
      INSERT INTO ioc_source_rank (source, reputation, last_seen, change_seq, type, category, status, updated_at, value)
        SELECT NEW.source, reputation, last_seen, change_seq, type, category, status, updated_at, value FROM iocs WHERE id = NEW.ioc_id;
      INSERT INTO ioc_source_counts (source, ${COUNT_KEY}, n)
        SELECT NEW.source, type, coalesce(category, ''), status, reputation, 1 FROM iocs WHERE id = NEW.ioc_id
        ON CONFLICT (source, ${COUNT_KEY}) DO UPDATE SET n = n + 1;
    END;
    -- Counts move first: they find the IoC's rows by its position before the move.
    CREATE TRIGGER tc_list_source_ioc_update AFTER UPDATE OF reputation, last_seen, change_seq, type, category, status, updated_at, value ON iocs
      WHEN ${RECOUNTED} OR OLD.last_seen IS NOT NEW.last_seen OR OLD.change_seq IS NOT NEW.change_seq OR OLD.updated_at IS NOT NEW.updated_at
        OR OLD.value IS NOT NEW.value BEGIN
      UPDATE ioc_source_counts SET n = n - 1
        WHERE (${RECOUNTED}) AND (source, ${COUNT_KEY}) IN (
          SELECT source, ${counted('OLD')} FROM ioc_source_rank WHERE change_seq = OLD.change_seq);
      INSERT INTO ioc_source_counts (source, ${COUNT_KEY}, n)
        SELECT source, ${counted('NEW')}, 1 FROM ioc_source_rank WHERE change_seq = OLD.change_seq AND (${RECOUNTED})
        ON CONFLICT (source, ${COUNT_KEY}) DO UPDATE SET n = n + 1;
      UPDATE ioc_source_rank SET reputation = NEW.reputation, last_seen = NEW.last_seen, change_seq = NEW.change_seq, type = NEW.type,
          category = NEW.category, status = NEW.status, updated_at = NEW.updated_at, value = NEW.value
        WHERE change_seq = OLD.change_seq;
    END;
    -- Whichever of these two runs first when an IoC goes does the work; the other finds nothing.
    CREATE TRIGGER tc_list_source_ioc_delete AFTER DELETE ON iocs BEGIN
      UPDATE ioc_source_counts SET n = n - 1 WHERE (source, ${COUNT_KEY}) IN (
        SELECT source, type, coalesce(category, ''), status, reputation FROM ioc_source_rank WHERE change_seq = OLD.change_seq);
      DELETE FROM ioc_source_rank WHERE change_seq = OLD.change_seq;
    END;
    CREATE TRIGGER tc_list_source_delete AFTER DELETE ON ioc_sources BEGIN
      UPDATE ioc_source_counts SET n = n - 1 WHERE (source, ${COUNT_KEY}) IN (
        SELECT r.source, r.type, coalesce(r.category, ''), r.status, r.reputation
        FROM iocs i JOIN ioc_source_rank r ON r.change_seq = i.change_seq AND r.source = OLD.source WHERE i.id = OLD.ioc_id);
      DELETE FROM ioc_source_rank WHERE source = OLD.source AND change_seq = (SELECT change_seq FROM iocs WHERE id = OLD.ioc_id);
    END;

    CREATE TABLE tc_report_hours (
      hour     TEXT NOT NULL,
      category TEXT NOT NULL,
      n        INTEGER NOT NULL,
      PRIMARY KEY (hour, category)
    ) STRICT, WITHOUT ROWID;
    -- From the analytics roll-up (exact, migration 6) plus the reports of the IoCs it leaves out.
    INSERT INTO tc_report_hours (hour, category, n)
      SELECT hour, category, sum(n) FROM (
        SELECT hour, category, sightings AS n FROM intel_hourly WHERE sightings <> 0
        UNION ALL
        SELECT substr(s.created_at, 1, 13), coalesce(i.category, ''), 1
        FROM iocs i JOIN sightings s ON s.ioc_id = i.id WHERE i.status IN ('whitelisted', 'revoked'))
      GROUP BY hour, category ORDER BY hour, category;
    CREATE TABLE tc_list_totals (
      name TEXT PRIMARY KEY,
      n    INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO tc_list_totals (name, n) VALUES
      ('reports', (SELECT coalesce(sum(n), 0) FROM tc_report_hours)),
      ('sources', (SELECT count(*) FROM tc_sources)),
      ('campaign_iocs', (SELECT coalesce(sum(ioc_count), 0) FROM campaigns WHERE formed_at IS NOT NULL));
    CREATE TRIGGER tc_list_report_insert AFTER INSERT ON sightings BEGIN
      INSERT INTO tc_report_hours (hour, category, n)
        SELECT substr(NEW.created_at, 1, 13), coalesce(category, ''), 1 FROM iocs WHERE id = NEW.ioc_id
        ON CONFLICT (hour, category) DO UPDATE SET n = n + 1;
      UPDATE tc_list_totals SET n = n + 1 WHERE name = 'reports';
    END;
    CREATE TRIGGER tc_list_report_category AFTER UPDATE OF category ON iocs WHEN OLD.category IS NOT NEW.category BEGIN
      INSERT INTO tc_report_hours (hour, category, n)
        SELECT substr(created_at, 1, 13), coalesce(OLD.category, ''), -count(*) FROM sightings WHERE ioc_id = OLD.id GROUP BY 1
        ON CONFLICT (hour, category) DO UPDATE SET n = n + excluded.n;
      INSERT INTO tc_report_hours (hour, category, n)
        SELECT substr(created_at, 1, 13), coalesce(NEW.category, ''), count(*) FROM sightings WHERE ioc_id = NEW.id GROUP BY 1
        ON CONFLICT (hour, category) DO UPDATE SET n = n + excluded.n;
    END;

    CREATE TRIGGER tc_list_sources_insert AFTER INSERT ON tc_sources BEGIN
      UPDATE tc_list_totals SET n = n + 1 WHERE name = 'sources';
    END;
    CREATE TRIGGER tc_list_sources_delete AFTER DELETE ON tc_sources BEGIN
      UPDATE tc_list_totals SET n = n - 1 WHERE name = 'sources';
    END;

    CREATE TABLE tc_audit_hours (
      action TEXT NOT NULL,
      hour   TEXT NOT NULL,
      n      INTEGER NOT NULL,
      PRIMARY KEY (action, hour)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO tc_audit_hours (action, hour, n)
      SELECT action, substr(created_at, 1, 13), count(*) FROM tc_audit_log GROUP BY 1, 2 ORDER BY 1, 2;
    CREATE TRIGGER tc_list_audit_insert AFTER INSERT ON tc_audit_log BEGIN
      INSERT INTO tc_audit_hours (action, hour, n) VALUES (NEW.action, substr(NEW.created_at, 1, 13), 1)
        ON CONFLICT (action, hour) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER tc_list_audit_delete AFTER DELETE ON tc_audit_log BEGIN
      UPDATE tc_audit_hours SET n = n - 1 WHERE action = OLD.action AND hour = substr(OLD.created_at, 1, 13);
    END;

    CREATE INDEX campaigns_listing ON campaigns (last_activity DESC, id, updated_at, ioc_count) WHERE formed_at IS NOT NULL;

    CREATE TABLE campaign_reporters (
      reporter_id TEXT PRIMARY KEY,
      n           INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    -- Members and reporters are both keyed by IoC id: walked side by side, not looked up one by one.
    INSERT INTO campaign_reporters (reporter_id, n)
      SELECT r.reporter_id, count(*) FROM campaign_iocs m CROSS JOIN ioc_reporters r ON r.ioc_id = m.ioc_id
      WHERE m.campaign_id IN (SELECT id FROM campaigns WHERE formed_at IS NOT NULL) GROUP BY r.reporter_id;
    CREATE TABLE campaign_technique_counts (
      technique_id TEXT PRIMARY KEY,
      n            INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO campaign_technique_counts (technique_id, n)
      SELECT t.technique_id, count(*) FROM campaign_techniques t JOIN campaigns c ON c.id = t.campaign_id
      WHERE c.formed_at IS NOT NULL GROUP BY t.technique_id;

    -- IoCs in formed campaigns, by their kept counts: the statistics' average.
    CREATE TRIGGER tc_list_campaign_size AFTER UPDATE OF ioc_count, formed_at ON campaigns
      WHEN OLD.ioc_count IS NOT NEW.ioc_count OR (OLD.formed_at IS NULL) IS NOT (NEW.formed_at IS NULL) BEGIN
      UPDATE tc_list_totals SET n = n + (CASE WHEN NEW.formed_at IS NULL THEN 0 ELSE NEW.ioc_count END)
        - (CASE WHEN OLD.formed_at IS NULL THEN 0 ELSE OLD.ioc_count END) WHERE name = 'campaign_iocs';
    END;
    CREATE TRIGGER tc_list_campaign_size_insert AFTER INSERT ON campaigns WHEN NEW.formed_at IS NOT NULL BEGIN
      UPDATE tc_list_totals SET n = n + NEW.ioc_count WHERE name = 'campaign_iocs';
    END;
    CREATE TRIGGER tc_list_campaign_size_delete AFTER DELETE ON campaigns WHEN OLD.formed_at IS NOT NULL BEGIN
      UPDATE tc_list_totals SET n = n - OLD.ioc_count WHERE name = 'campaign_iocs';
    END;
    CREATE TRIGGER tc_list_member_insert AFTER INSERT ON campaign_iocs WHEN ${formed('NEW.campaign_id')} BEGIN
      INSERT INTO campaign_reporters (reporter_id, n) SELECT reporter_id, 1 FROM ioc_reporters WHERE ioc_id = NEW.ioc_id
        ON CONFLICT (reporter_id) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER tc_list_member_delete AFTER DELETE ON campaign_iocs WHEN ${formed('OLD.campaign_id')} BEGIN
      UPDATE campaign_reporters SET n = n - 1 WHERE reporter_id IN (SELECT reporter_id FROM ioc_reporters WHERE ioc_id = OLD.ioc_id);
    END;
    CREATE TRIGGER tc_list_member_move AFTER UPDATE OF campaign_id, ioc_id ON campaign_iocs
      WHEN OLD.campaign_id IS NOT NEW.campaign_id OR OLD.ioc_id IS NOT NEW.ioc_id BEGIN
      UPDATE campaign_reporters SET n = n - 1
        WHERE ${formed('OLD.campaign_id')} AND reporter_id IN (SELECT reporter_id FROM ioc_reporters WHERE ioc_id = OLD.ioc_id);
      INSERT INTO campaign_reporters (reporter_id, n) SELECT reporter_id, 1 FROM ioc_reporters WHERE ioc_id = NEW.ioc_id AND ${formed('NEW.campaign_id')}
        ON CONFLICT (reporter_id) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER tc_list_campaign_formed AFTER UPDATE OF formed_at ON campaigns
      WHEN (OLD.formed_at IS NULL) IS NOT (NEW.formed_at IS NULL) BEGIN
      INSERT INTO campaign_reporters (reporter_id, n)
        SELECT r.reporter_id, CASE WHEN NEW.formed_at IS NULL THEN -count(*) ELSE count(*) END
        FROM campaign_iocs m JOIN ioc_reporters r ON r.ioc_id = m.ioc_id WHERE m.campaign_id = NEW.id GROUP BY r.reporter_id
        ON CONFLICT (reporter_id) DO UPDATE SET n = n + excluded.n;
      INSERT INTO campaign_technique_counts (technique_id, n)
        SELECT technique_id, CASE WHEN NEW.formed_at IS NULL THEN -1 ELSE 1 END FROM campaign_techniques WHERE campaign_id = NEW.id
        ON CONFLICT (technique_id) DO UPDATE SET n = n + excluded.n;
    END;
    -- Before: the campaign's members and techniques are still there to count; the deletes that
    -- cascade from it then find no formed campaign and change nothing.
    CREATE TRIGGER tc_list_campaign_delete BEFORE DELETE ON campaigns WHEN OLD.formed_at IS NOT NULL BEGIN
      UPDATE campaign_reporters SET n = n - (
          SELECT count(*) FROM campaign_iocs m JOIN ioc_reporters r ON r.ioc_id = m.ioc_id
          WHERE m.campaign_id = OLD.id AND r.reporter_id = campaign_reporters.reporter_id)
        WHERE reporter_id IN (SELECT r.reporter_id FROM campaign_iocs m JOIN ioc_reporters r ON r.ioc_id = m.ioc_id WHERE m.campaign_id = OLD.id);
      UPDATE campaign_technique_counts SET n = n - 1
        WHERE technique_id IN (SELECT technique_id FROM campaign_techniques WHERE campaign_id = OLD.id);
    END;
    CREATE TRIGGER tc_list_reporter_insert AFTER INSERT ON ioc_reporters WHEN ${inFormedCampaign('NEW.ioc_id')} BEGIN
      INSERT INTO campaign_reporters (reporter_id, n) VALUES (NEW.reporter_id, 1) ON CONFLICT (reporter_id) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER tc_list_reporter_delete AFTER DELETE ON ioc_reporters WHEN ${inFormedCampaign('OLD.ioc_id')} BEGIN
      UPDATE campaign_reporters SET n = n - 1 WHERE reporter_id = OLD.reporter_id;
    END;
    CREATE TRIGGER tc_list_reporter_update AFTER UPDATE OF reporter_id, ioc_id ON ioc_reporters
      WHEN OLD.reporter_id IS NOT NEW.reporter_id OR OLD.ioc_id IS NOT NEW.ioc_id BEGIN
      UPDATE campaign_reporters SET n = n - 1 WHERE reporter_id = OLD.reporter_id AND ${inFormedCampaign('OLD.ioc_id')};
      INSERT INTO campaign_reporters (reporter_id, n) SELECT NEW.reporter_id, 1 WHERE ${inFormedCampaign('NEW.ioc_id')}
        ON CONFLICT (reporter_id) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER tc_list_technique_insert AFTER INSERT ON campaign_techniques WHEN ${formed('NEW.campaign_id')} BEGIN
      INSERT INTO campaign_technique_counts (technique_id, n) VALUES (NEW.technique_id, 1)
        ON CONFLICT (technique_id) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER tc_list_technique_delete AFTER DELETE ON campaign_techniques WHEN ${formed('OLD.campaign_id')} BEGIN
      UPDATE campaign_technique_counts SET n = n - 1 WHERE technique_id = OLD.technique_id;
    END;
  `);
}
