import { toIso } from '../shared/clock.js';
import type { Db } from '../shared/db/open.js';
import { createCampaignStore } from '../threat-cloud/intel/stores/campaigns.js';
import { campaignDescription } from '../threat-cloud/intel/campaign-text.js';
import { MANAGER_REPORTER, userReporter } from '../threat-cloud/reporters.js';
import { DEFAULT_THRESHOLD, REPUTATION_SQL } from '../threat-cloud/reputation.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 8,
  name: 'threat cloud: fleet reporters as their user or the one Manager, sightings without fleet ids',
  up: reporterIdentityMigration,
};

/** Reporter ids the Manager bridge wrote before this step, `org:<org_id>`, as an index range (';' follows ':'). */
const OLD_FLEET = `reporter_id >= 'org:' AND reporter_id < 'org;'`;
/** Negative: KiB (256 MiB), only as far as the file has pages to fill it. */
const MIGRATION_CACHE_KIB = -262_144;
/** Campaigns rewritten per query, so a file of any size never sits in memory. */
const CAMPAIGN_PAGE = 256;

/**
 * Migration 8: the Manager bridge counted each agent's org as a reporter of its
 * own, so two invented org names could corroborate an address onto the blocklist and a user
 * and their own agent counted twice; its sightings kept event and agent ids that every read
 * key could see. This step rewrites what was stored that way:
 *
 * - reporters `org:<x>` become `user:<x>` when x is a user's id (the reporter of that user's
 *   keys) and `manager` otherwise, in `ioc_reporters` (merged, earliest first report kept)
 *   and in `sightings`, whose context keeps only the event `type`;
 * - each IoC touched gets its reporters recounted and its reputation recomputed with the
 *   formula the hourly refresh uses; one whose score crosses the default threshold (either
 *   way) takes a new change-sequence position so incremental consumers see it leave or join
 *   the blocklist, the others change in place (as the refresh does);
 * - formed campaigns with such an IoC get their reporter count and description again.
 *
 * Set-based SQL over the indexed reporter range and the affected IoCs; only campaign ids are
 * read into JS, a page at a time. Type, category, status, first report and metadata never
 * change here, so the trigger-kept `ioc_counts`, `intel_hourly` and `ioc_techniques` stay as
 * they are, and no report is added or removed.
 */
function reporterIdentityMigration(db: Db): void {
  // Every affected IoC's rows and index entries are rewritten in one transaction: a large
  // page cache for this step keeps them in memory instead of re-reading pages (about twice
  // as fast on 300,000 affected IoCs); the connection's own size comes back afterwards.
  const cacheSize = db.pragma('cache_size', { simple: true }) as number;
  db.pragma(`cache_size = ${MIGRATION_CACHE_KIB}`);
  try {
    rewrite(db);
  } finally {
    db.pragma(`cache_size = ${cacheSize}`);
  }
}

function rewrite(db: Db): void {
  const nowIso = toIso(Date.now());
  const { now } = db.prepare<[string], { now: number }>(`SELECT julianday(?) AS now`).get(nowIso)!;
  // The reporter an `org:<x>` row stands for now (x starts at character 5).
  const newReporter = `CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = substr(reporter_id, 5))
    THEN @userPrefix || substr(reporter_id, 5) ELSE @manager END`;
  const names = { userPrefix: userReporter(''), manager: MANAGER_REPORTER };

  db.exec(`
    CREATE TEMP TABLE reporter_migration_iocs (ioc_id TEXT PRIMARY KEY) WITHOUT ROWID;
    INSERT OR IGNORE INTO temp.reporter_migration_iocs SELECT ioc_id FROM ioc_reporters WHERE ${OLD_FLEET};
  `);
  const affected = `(SELECT ioc_id FROM temp.reporter_migration_iocs)`;

  db.prepare(
    `UPDATE sightings SET reporter_id = ${newReporter},
       context = CASE WHEN json_valid(context) AND json_type(context, '$.type') = 'text'
         THEN json_object('type', json_extract(context, '$.type')) END
     WHERE ioc_id IN ${affected} AND ${OLD_FLEET}`,
  ).run(names);
  db.prepare(
    `INSERT INTO ioc_reporters (ioc_id, reporter_id, first_seen)
       SELECT ioc_id, ${newReporter}, min(first_seen) FROM ioc_reporters WHERE ${OLD_FLEET} GROUP BY 1, 2
     ON CONFLICT (ioc_id, reporter_id) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)`,
  ).run(names);
  db.exec(`DELETE FROM ioc_reporters WHERE ${OLD_FLEET}`);
  db.exec(`UPDATE iocs SET reporters = (SELECT count(*) FROM ioc_reporters r WHERE r.ioc_id = iocs.id) WHERE id IN ${affected}`);

  const seq = db.prepare<[], { value: number }>(`SELECT value FROM tc_state WHERE name = 'seq'`).get()!.value;
  const crossed = db
    .prepare(
      `UPDATE iocs SET reputation = r.score, updated_at = @nowIso, change_seq = @base + r.rn
       FROM (SELECT rid, score, row_number() OVER (ORDER BY rid) AS rn FROM (
               SELECT rowid AS rid, reputation AS old, ${REPUTATION_SQL} AS score FROM iocs
               WHERE id IN ${affected} AND status = 'active')
             WHERE (old <= ${DEFAULT_THRESHOLD}) <> (score <= ${DEFAULT_THRESHOLD})) AS r
       WHERE iocs.rowid = r.rid`,
    )
    .run({ now, nowIso, base: seq }).changes;
  if (crossed > 0) db.prepare(`UPDATE tc_state SET value = value + ?, updated_at = ? WHERE name = 'seq'`).run(crossed, nowIso);
  const rescored = db
    .prepare(
      `UPDATE iocs SET reputation = ${REPUTATION_SQL}
       WHERE id IN ${affected} AND status IN ('active', 'revoked', 'expired') AND reputation <> ${REPUTATION_SQL}`,
    )
    .run({ now }).changes;
  // Lists and feeds show stored scores: their validators must change with them.
  if (crossed + rescored > 0) db.prepare(`UPDATE tc_state SET value = value + 1, updated_at = ? WHERE name = 'refresh'`).run(nowIso);

  recountCampaigns(db, affected, nowIso);
  db.exec(`DROP TABLE temp.reporter_migration_iocs`);
}

/** Formed campaigns holding an affected IoC: reporter count and the description that names it. */
function recountCampaigns(db: Db, affected: string, nowIso: string): void {
  db.exec(`
    CREATE TEMP TABLE reporter_migration_campaigns (id TEXT PRIMARY KEY) WITHOUT ROWID;
    INSERT OR IGNORE INTO temp.reporter_migration_campaigns
      SELECT m.campaign_id FROM campaign_iocs m JOIN campaigns c ON c.id = m.campaign_id
      WHERE m.ioc_id IN ${affected} AND c.formed_at IS NOT NULL;
  `);
  const page = db.prepare<[string, number], string>(`SELECT id FROM temp.reporter_migration_campaigns WHERE id > ? ORDER BY id LIMIT ?`).pluck();
  const campaigns = createCampaignStore(db);
  for (let ids = page.all('', CAMPAIGN_PAGE); ids.length > 0; ids = page.all(ids.at(-1)!, CAMPAIGN_PAGE)) {
    for (const id of ids) {
      const aggregates = campaigns.aggregates(id);
      if (campaigns.campaign(id)?.affected_orgs === aggregates.affectedOrgs) continue;
      campaigns.writeAggregates(id, aggregates, campaignDescription(aggregates), nowIso);
    }
  }
  db.exec(`DROP TABLE temp.reporter_migration_campaigns`);
}
