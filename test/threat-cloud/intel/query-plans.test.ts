import t from 'tap';
import type { Db } from '../../../src/shared/db/open.js';
import { ManualClock } from '../../../src/shared/clock.js';
import { sqliteStorageOf } from '../../../src/shared/db/sqlite-storage.js';
import { createGeoQuery } from '../../../src/threat-cloud/intel/stores/geo.js';
import { createHeatmapQuery } from '../../../src/threat-cloud/intel/stores/heatmap.js';
import { createMitreCatalog } from '../../../src/threat-cloud/intel/mitre.js';
import { createTimeseriesQuery } from '../../../src/threat-cloud/intel/stores/timeseries.js';
import { createTrendsQuery, TRENDS_READS } from '../../../src/threat-cloud/intel/stores/trends.js';
import { seedIocs } from '../../../src/threat-cloud/seed.js';
import { AUDIT_READS, AUDIT_WRITES, createAuditStore } from '../../../src/threat-cloud/stores/audit.js';
import { CAMPAIGN_READS } from '../../../src/threat-cloud/intel/stores/campaign-queries.js';
import { createIocList, type IocFilter } from '../../../src/threat-cloud/stores/ioc-list.js';
import { createIocQueries, SIGHTING_READS } from '../../../src/threat-cloud/stores/ioc-queries.js';
import { createStatsStore, STATS_READS } from '../../../src/threat-cloud/stores/stats.js';
import { testConfig, testDb } from '../../helper.js';
import { planOf, recordSql } from '../../query-plans.js';

t.test('per-period analytics queries search indexes; none scans a whole table', async (t) => {
  const db = testDb(t, testConfig(t));
  // Enough rows that the planner's choice is the one it makes on a large database.
  seedIocs(db, { count: 5_000 });
  db.exec(`UPDATE iocs SET metadata = json_object('mitreIds', json_array('T1110', 'T1046')) WHERE rowid % 10 = 0`);
  db.exec('ANALYZE');
  const clock = new ManualClock(Date.now());
  const { db: recorder, prepared: sources } = recordSql(db);
  // The port prepares a statement when it first runs: each query runs once.
  const storage = sqliteStorageOf(recorder);
  for (const granularity of ['hour', 'day'] as const) await createTimeseriesQuery(storage, clock)({ granularity, period: '7d' });
  await createGeoQuery(storage, clock)({ period: '7d', limit: 20 });
  createTrendsQuery(sqliteStorageOf(recorder), clock);
  for (const statement of Object.values(TRENDS_READS)) sources.add(statement.sql);
  await createHeatmapQuery(storage, clock, createMitreCatalog())({ period: '7d' });
  t.ok(sources.size >= 4, `${sources.size} statements prepared by the analytics queries`);
  for (const source of sources) {
    const plan = planLines(db, source);
    // Scanning a subquery's own result (a co-routine or materialised view) reads no table.
    const derived = new Set(plan.flatMap((detail) => /^(?:CO-ROUTINE|MATERIALIZE) (\S+)/.exec(detail)?.slice(1) ?? []));
    const scans = plan.filter((detail) => /^SCAN (?!CONSTANT ROW)/.test(detail) && !derived.has(detail.split(' ')[1]!));
    t.same(scans, [], `${source.replace(/\s+/g, ' ').slice(0, 140)}\n  plan: ${plan.join(' | ')}`);
  }
});

/** Tables that grow with the data: reading one whole, or sorting a list of one, stalls the process. */
const LARGE_TABLES = new Set([
  'iocs', 'sightings', 'ioc_sources', 'ioc_source_rank', 'ioc_reporters', 'ioc_relations', 'ioc_techniques', 'ioc_netblocks',
  'tc_audit_log', 'campaigns', 'campaign_iocs', 'campaign_events', 'campaign_techniques', 'trap_events',
]);

/** The plan lines of a statement (see test/query-plans.ts). */
function planLines(db: Db, source: string): string[] {
  return planOf(db, source).map((node) => node.detail);
}

/**
 * What a statement may do to a large table: search an index, or walk one in order when the
 * statement stops after a LIMIT and sorts nothing (a page read in index order). A full SCAN
 * without an index, or an ordered walk without a LIMIT, reads the whole table.
 */
function unboundedReads(source: string, plan: string[]): string[] {
  const limited = /\bLIMIT\b/.test(source);
  const sorts = plan.some((detail) => /USE TEMP B-TREE FOR (RIGHT PART OF )?ORDER BY/.test(detail));
  return plan.filter((detail) => {
    const scan = /^SCAN (\w+)(?: AS \w+)?( USING (?:COVERING )?INDEX)?/.exec(detail);
    if (!scan || !LARGE_TABLES.has(scan[1]!)) return false;
    return !scan[2] || !limited || sorts;
  });
}

/** Data where each index prefix is the smallest for some filter: rare types, statuses, categories, extra sources, ties. */
function varied(db: Db): void {
  seedIocs(db, { count: 5_000 });
  db.exec(`
    UPDATE iocs SET status = 'revoked' WHERE rowid % 41 = 0;
    UPDATE iocs SET status = 'expired' WHERE rowid % 7 = 0;
    UPDATE iocs SET type = 'hash', value = printf('%064x', rowid) WHERE rowid % 53 = 0;
    UPDATE iocs SET category = NULL WHERE rowid % 11 = 0;
    INSERT INTO ioc_sources (source, ioc_id) SELECT 'rare-feed', id FROM iocs WHERE rowid % 29 = 0;
    ANALYZE;
  `);
}

/** Every combination of the documented filters of GET /api/iocs. */
function everyFilter(now: number): IocFilter[] {
  const choices: Array<[keyof IocFilter, unknown]> = [
    ['type', 'hash'], ['source', 'rare-feed'], ['category', 'c2'], ['status', 'revoked'],
    ['minReputation', 40], ['maxReputation', 90], ['since', new Date(now - 5 * 86_400_000).toISOString()], ['q', '11.0.1'],
  ];
  return Array.from({ length: 1 << choices.length }, (_, mask) =>
    Object.fromEntries(choices.filter((_, bit) => mask & (1 << bit))) as IocFilter);
}

t.test('every IoC list filter and sort reads an index in its order; no page sorts or scans the IoC table', async (t) => {
  const db = testDb(t, testConfig(t));
  varied(db);
  const { db: recorder, prepared: sources } = recordSql(db);
  // Thresholds that force each way of reading: whole small ranges, stepped walks, and the defaults.
  const lists = [createIocList(sqliteStorageOf(recorder)), createIocList(sqliteStorageOf(recorder), { smallSet: 0, walkStep: 500 }), createIocList(sqliteStorageOf(recorder), { smallSet: 1e9 })];
  for (const filter of everyFilter(Date.now())) {
    for (const list of lists) {
      await list.list(filter, 1, 50);
      await list.list(filter, 40, 50);
    }
  }
  const statements = [...sources];
  const readers = statements.filter((source) => /FROM (iocs INDEXED BY iocs_rank\w*|ioc_source_rank)/.test(source));
  for (const driver of ['iocs_rank ', 'iocs_rank_type ', 'iocs_rank_category ', 'iocs_rank_status ', 'ioc_source_rank ']) {
    t.ok(readers.some((source) => source.includes(driver)), `some filter reads ${driver.trim()}`);
  }
  t.ok(statements.some((source) => source.includes('INDEXED BY iocs_value')) && statements.some((source) => source.includes('INDEXED BY iocs_updated_at')),
    'small since and q ranges are read from their own indexes');
  for (const source of statements) {
    const plan = planLines(db, source);
    const label = `${source.replace(/\s+/g, ' ').slice(0, 160)}\n  plan: ${plan.join(' | ')}`;
    t.same(unboundedReads(source, plan), [], label);
    const sorted = plan.some((detail) => /USE TEMP B-TREE FOR (RIGHT PART OF )?ORDER BY/.test(detail));
    // The one sort allowed: the rows of a since or q range the list has counted below SMALL_SET.
    const rangeRead = /^SEARCH iocs USING INDEX iocs_(value|updated_at) /.test(plan[0] ?? '');
    if (sorted) t.ok(rangeRead, `only a small since or q range is sorted: ${label}`);
    if (/FROM (iocs INDEXED BY iocs_rank|ioc_source_rank)/.test(source)) {
      t.match(plan.join(' | '), /SEARCH (iocs USING COVERING INDEX iocs_rank|ioc_source_rank USING PRIMARY KEY)/, `walks the ranked index: ${label}`);
    }
  }
});

t.test('sightings, campaign, audit-log and statistics reads search indexes and kept counts', async (t) => {
  const db = testDb(t, testConfig(t));
  varied(db);
  const clock = new ManualClock(Date.now());
  const { db: recorder, prepared: sources } = recordSql(db);
  createIocQueries(sqliteStorageOf(recorder));
  for (const statement of Object.values(SIGHTING_READS)) sources.add(statement.sql);
  // The audit store's statements include the retention purge's batched deletes.
  createAuditStore(sqliteStorageOf(recorder), clock);
  for (const statement of [...Object.values(AUDIT_READS.list), AUDIT_READS.hoursTotal, ...Object.values(AUDIT_READS.sinceHourTotal)]) sources.add(statement.sql);
  const { insert, aggregateDetails, updateDetails, purge } = AUDIT_WRITES;
  for (const statement of [insert, aggregateDetails, updateDetails, ...Object.values(purge)]) sources.add(statement.sql);
  // Statements on the port are declared up front: their texts are planned as they are.
  for (const statement of Object.values(CAMPAIGN_READS)) sources.add(statement.sql);
  createStatsStore(sqliteStorageOf(recorder), clock);
  for (const statement of Object.values(STATS_READS)) sources.add(statement.sql);
  t.ok(sources.size >= 20, `${sources.size} statements prepared`);
  t.equal([...sources].filter((source) => /^\s*DELETE FROM tc_audit_log/.test(source)).length, 2, 'the purges of reads and of writes are checked');
  for (const source of sources) {
    const plan = planLines(db, source);
    const label = `${source.replace(/\s+/g, ' ').slice(0, 160)}\n  plan: ${plan.join(' | ')}`;
    t.same(unboundedReads(source, plan), [], label);
    if (/^\s*DELETE FROM tc_audit_log/.test(source)) {
      t.ok(plan.some((detail) => detail.startsWith('SEARCH tc_audit_log USING COVERING INDEX tc_audit_log_action (action=? AND created_at<?)')), `the purge walks (action, created_at): ${label}`);
    }
    // A list page is read in the order of an index, never sorted.
    if (/LIMIT @limit OFFSET @offset|LIMIT \? OFFSET \?/.test(source)) {
      t.notOk(plan.some((detail) => detail.includes('TEMP B-TREE')), `a list page is not sorted: ${label}`);
    }
  }
});
