import type { ResolvedConfig } from '../../src/config.js';
import { ManualClock, toIso } from '../../src/shared/clock.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { buildThreatCloudApp, type ThreatCloudJobs } from '../../src/threat-cloud/app.js';
import { createAuditRetention } from '../../src/threat-cloud/jobs/audit-retention.js';
import { createAuditStore } from '../../src/threat-cloud/stores/audit.js';
import { storageOn, type Engine } from '../engines.js';
import { buildTestApp, testConfig, testDb, type Teardown } from '../helper.js';
import { bareStorageOn, BOOTSTRAP_KEY, execute, onBothEngines, selectRows } from './fixtures.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-03-07T12:00:00.000Z');

/** Entries of `action`, `copies` of each age in days (fractions allowed), ids naming both. */
async function seed(storage: Storage, action: string, ages: number[], copies = 1): Promise<void> {
  for (const age of ages) {
    for (let i = 0; i < copies; i += 1) {
      await execute(storage, `INSERT INTO tc_audit_log (id, action, resource, details, api_key, ip, created_at) VALUES (?, ?, 'iocs', '{}', NULL, NULL, ?)`, [
        `audit_${action}_${age}_${i}`,
        action,
        toIso(NOW - age * DAY),
      ]);
    }
  }
}

const ids = async (storage: Storage) => (await selectRows<{ id: string }>(storage, `SELECT id FROM tc_audit_log ORDER BY id`)).map((row) => row.id);
const expected = (action: string, ages: number[], copies = 1) => ages.flatMap((age) => Array.from({ length: copies }, (_, i) => `audit_${action}_${age}_${i}`));

/** Hourly counts against the log itself: the purge must leave no drift. */
function hourDrift(storage: Storage) {
  return selectRows(
    storage,
    `SELECT action, hour, sum(n) AS n FROM (
       SELECT action, hour, n FROM tc_audit_hours
       UNION ALL SELECT action, substr(created_at, 1, 13), -count(*) FROM tc_audit_log GROUP BY 1, 2) AS both_counts
     GROUP BY 1, 2 HAVING sum(n) <> 0`,
  );
}

/**
 * The database an app will be built on, migrated and empty: the config's SQLite file, or a
 * fresh PostgreSQL database (closed with the app). Rows can be seeded through `storage` first.
 */
async function appDatabaseOn(t: Teardown, engine: Engine, config: ResolvedConfig) {
  const postgres = await storageOn(engine);
  if (postgres !== undefined) return { storage: postgres, appOptions: { storage: postgres } };
  const db = testDb(t, config);
  return { storage: sqliteStorageOf(db), appOptions: { db } };
}

const ONE_MS = 1 / DAY;
const OLD_QUERY = [400, 31, 30 + ONE_MS];
const KEPT_QUERY = [30, 29, 1];
const OLD_WRITE = [500, 401, 400 + ONE_MS];
const KEPT_WRITE = [400, 399, 31, 1];

onBothEngines('a purge deletes exactly the entries past their retention, in batches, and totals stay right', async (t, engine) => {
  const config = testConfig(t, { TC_API_KEYS: BOOTSTRAP_KEY });
  const { storage, appOptions } = await appDatabaseOn(t, engine, config);
  await seed(storage, 'query', [...OLD_QUERY, ...KEPT_QUERY], 4);
  for (const action of ['create', 'update', 'delete']) await seed(storage, action, [...OLD_WRITE, ...KEPT_WRITE], 2);
  const clock = new ManualClock(NOW);
  let jobs: ThreatCloudJobs | undefined;
  const { app } = await buildTestApp(t, (deps) => buildThreatCloudApp(deps, { auditPurge: { batchSize: 5 }, onJobs: (appJobs) => (jobs = appJobs) }), { config, ...appOptions, clock });

  // The app's own purge, with the default days (30 for reads, 400 for writes) and small batches.
  const retention = jobs!.auditRetention;
  t.same(await retention.purge(), { query: 12, writes: 18 }, 'every old entry, several batches each');
  t.same(
    await ids(storage),
    [...expected('query', KEPT_QUERY, 4), ...['create', 'update', 'delete'].flatMap((action) => expected(action, KEPT_WRITE, 2))].sort(),
    'the rest is kept: queries up to 30 days, writes up to 400 days (a 31-day-old write too)',
  );
  t.same(await hourDrift(storage), [], 'hourly counts follow the deletes');

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

onBothEngines('a stopped purge ends after its current batch', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  await seed(storage, 'query', [40], 10);
  const clock = new ManualClock(NOW);
  const retention = createAuditRetention({ storage, audit: createAuditStore(storage, clock), clock, days: { queryDays: 30, writeDays: 400 }, batchSize: 3 });
  const running = retention.purge();
  retention.halt();
  t.same(await running, { query: 3, writes: 0 });
  t.equal((await ids(storage)).length, 7);
});

onBothEngines('the app purges with the configured days shortly after start', async (t, engine) => {
  const config = testConfig(t, { TC_API_KEYS: BOOTSTRAP_KEY, TC_QUERY_AUDIT_DAYS: '7', TC_AUDIT_DAYS: '60' });
  t.equal(config.threatCloud.queryAuditDays, 7);
  t.equal(config.threatCloud.auditDays, 60);
  const { storage, appOptions } = await appDatabaseOn(t, engine, config);
  await seed(storage, 'query', [8, 6]);
  await seed(storage, 'create', [61, 59]);
  const clock = new ManualClock(NOW);
  await buildTestApp(t, (deps) => buildThreatCloudApp(deps, { auditPurge: { firstAfterMs: 0 } }), { config, ...appOptions, clock });
  // The first purge runs on a timer of its own: wait for it, a bounded number of turns.
  for (let turn = 0; turn < 500 && (await ids(storage)).length > 2; turn += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(await ids(storage), ['audit_create_59_0', 'audit_query_6_0']);
  t.same(await hourDrift(storage), []);
});
