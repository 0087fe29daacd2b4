import t from 'tap';
import { ManualClock, toIso } from '../../src/shared/clock.js';
import type { Db } from '../../src/shared/db/open.js';
import { buildThreatCloudApp, type ThreatCloudJobs } from '../../src/threat-cloud/app.js';
import { createAuditRetention } from '../../src/threat-cloud/jobs/audit-retention.js';
import { createAuditStore } from '../../src/threat-cloud/stores/audit.js';
import { buildTestApp, testConfig, testDb } from '../helper.js';
import { BOOTSTRAP_KEY } from './fixtures.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-03-07T12:00:00.000Z');

/** Entries of `action`, `copies` of each age in days (fractions allowed), ids naming both. */
function seed(db: Db, action: string, ages: number[], copies = 1): void {
  const insert = db.prepare(`INSERT INTO tc_audit_log (id, action, resource, details, api_key, ip, created_at) VALUES (?, ?, 'iocs', '{}', NULL, NULL, ?)`);
  db.transaction(() => {
    for (const age of ages) for (let i = 0; i < copies; i += 1) insert.run(`audit_${action}_${age}_${i}`, action, toIso(NOW - age * DAY));
  })();
}

const ids = (db: Db) => (db.prepare(`SELECT id FROM tc_audit_log ORDER BY id`).pluck().all() as string[]);
const expected = (action: string, ages: number[], copies = 1) => ages.flatMap((age) => Array.from({ length: copies }, (_, i) => `audit_${action}_${age}_${i}`));

/** Hourly counts against the log itself: the purge must leave no drift. */
function hourDrift(db: Db) {
  return db
    .prepare(
      `SELECT action, hour, sum(n) AS n FROM (
         SELECT action, hour, n FROM tc_audit_hours
         UNION ALL SELECT action, substr(created_at, 1, 13), -count(*) FROM tc_audit_log GROUP BY 1, 2)
       GROUP BY 1, 2 HAVING sum(n) <> 0`,
    )
    .all();
}

const ONE_MS = 1 / DAY;
const OLD_QUERY = [400, 31, 30 + ONE_MS];
const KEPT_QUERY = [30, 29, 1];
const OLD_WRITE = [500, 401, 400 + ONE_MS];
const KEPT_WRITE = [400, 399, 31, 1];

t.test('a purge deletes exactly the entries past their retention, in batches, and totals stay right', async (t) => {
  const config = testConfig(t, { TC_API_KEYS: BOOTSTRAP_KEY });
  const db = testDb(t, config);
  seed(db, 'query', [...OLD_QUERY, ...KEPT_QUERY], 4);
  for (const action of ['create', 'update', 'delete']) seed(db, action, [...OLD_WRITE, ...KEPT_WRITE], 2);
  const clock = new ManualClock(NOW);
  let jobs: ThreatCloudJobs | undefined;
  const { app } = await buildTestApp(t, (deps) => buildThreatCloudApp(deps, { auditPurge: { batchSize: 5 }, onJobs: (appJobs) => (jobs = appJobs) }), { config, db, clock });

  // The app's own purge, with the default days (30 for reads, 400 for writes) and small batches.
  const retention = jobs!.auditRetention;
  t.same(await retention.purge(), { query: 12, writes: 18 }, 'every old entry, several batches each');
  t.same(
    ids(db),
    [...expected('query', KEPT_QUERY, 4), ...['create', 'update', 'delete'].flatMap((action) => expected(action, KEPT_WRITE, 2))].sort(),
    'the rest is kept: queries up to 30 days, writes up to 400 days (a 31-day-old write too)',
  );
  t.same(hourDrift(db), [], 'hourly counts follow the deletes');

  const total = async (query: string) => {
    const res = await app.inject({ url: `/api/audit-log?${query}`, headers: { authorization: `Bearer ${BOOTSTRAP_KEY}` } });
    return res.json().pagination.total as number;
  };
  t.equal(await total(''), 12 + 24);
  t.equal(await total('action=query'), 12);
  t.equal(await total('action=delete'), 8);
  t.equal(await total(`since=${toIso(NOW - 35 * DAY)}`), 12 + 12, 'queries kept, and writes of 31 days and 1 day');
  t.same(await retention.purge(), { query: 0, writes: 0 }, 'a second purge finds nothing');
});

t.test('a stopped purge ends after its current batch', async (t) => {
  const db = testDb(t, testConfig(t));
  seed(db, 'query', [40], 10);
  const clock = new ManualClock(NOW);
  const retention = createAuditRetention({ storage: sqliteStorageOf(db), audit: createAuditStore(sqliteStorageOf(db), clock), clock, days: { queryDays: 30, writeDays: 400 }, batchSize: 3 });
  const running = retention.purge();
  retention.halt();
  t.same(await running, { query: 3, writes: 0 });
  t.equal(ids(db).length, 7);
});

t.test('the app purges with the configured days shortly after start', async (t) => {
  const config = testConfig(t, { TC_API_KEYS: BOOTSTRAP_KEY, TC_QUERY_AUDIT_DAYS: '7', TC_AUDIT_DAYS: '60' });
  t.equal(config.threatCloud.queryAuditDays, 7);
  t.equal(config.threatCloud.auditDays, 60);
  const db = testDb(t, config);
  seed(db, 'query', [8, 6]);
  seed(db, 'create', [61, 59]);
  const clock = new ManualClock(NOW);
  await buildTestApp(t, (deps) => buildThreatCloudApp(deps, { auditPurge: { firstAfterMs: 0 } }), { config, db, clock });
  // The first purge runs on a timer of its own: wait for it, a bounded number of turns.
  for (let turn = 0; turn < 500 && ids(db).length > 2; turn += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(ids(db), ['audit_create_59_0', 'audit_query_6_0']);
  t.same(hourDrift(db), []);
});
