/**
 * Background jobs over one PostgreSQL database with several replicas (a connection pool each):
 * every replica's tick fires, one claims the interval, and its run happens once.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/shared/clock.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { createJobLease } from '../../src/shared/job-lease.js';
import { SWEEP_JOB } from '../../src/manager/jobs/sweeper.js';
import { CORRELATION_JOB, createCorrelationJob, DEFAULT_SCHEDULE } from '../../src/threat-cloud/jobs/correlation.js';
import { createReputationRefresh, REFRESH_INTERVAL_MS, REFRESH_JOB } from '../../src/threat-cloud/jobs/refresh.js';
import { createCorrelator } from '../../src/threat-cloud/intel/services/correlation.js';
import { createReputationRefreshStore } from '../../src/threat-cloud/stores/reputation-refresh.js';
import { createAuditRetention, PURGE_INTERVAL_MS, RETENTION_JOB } from '../../src/threat-cloud/jobs/audit-retention.js';
import { createAuditStore } from '../../src/threat-cloud/stores/audit.js';
import { MAINTENANCE_JOB } from '../../src/auth/jobs/maintenance.js';
import { toIso } from '../../src/shared/clock.js';
import { countIn, execute, selectRows, storageOn } from '../engines.js';
import { buildAuth, register as registerUser } from '../auth/fixtures.js';
import { buildManager, register } from '../manager/fixtures.js';
import { postgresUrlOf } from '../threat-cloud/fixtures.js';
import { buildIntelHarnessOn, DAY, report } from '../threat-cloud/intel/helper.js';

/** Another connection pool to the same database: what another replica has. */
async function replicaOf(storage: Storage): Promise<Storage> {
  return openPostgresStorage({ connectionString: await postgresUrlOf(storage), poolSize: 4, statementTimeoutMs: 30_000, ssl: false });
}

async function closedAtEnd(t: Test, storage: Storage): Promise<Storage> {
  const other = await replicaOf(storage);
  t.teardown(() => other.close());
  return other;
}

/** Claims made so far for a job: its fence (0 before the first). */
async function fenceOf(storage: Storage, job: string): Promise<number> {
  const [row] = await selectRows<{ fence: number }>(storage, 'SELECT fence FROM job_leases WHERE name = ?', [job]);
  return row ? Number(row.fence) : 0;
}

/** Polls `read` until `done` holds or ten seconds pass; returns the last value read. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    value = await read();
  }
  return value;
}

t.test('three Manager replicas: an agent that stopped heartbeating goes offline once, with one agent_offline', async (t) => {
  const first = (await storageOn('postgres'))!;
  const storages = [first, await replicaOf(first), await replicaOf(first)];
  const clock = new ManualClock();
  // Each app closes the storage it was given.
  const managers = [];
  for (const storage of storages) managers.push(await buildManager(t, { storage, clock }));
  const [a] = managers;
  const agent = await register(a!.app, { hostname: 'went-quiet' });
  const offlineEvents = async () =>
    (await selectRows<{ data: string }>(first, `SELECT data FROM stream_events WHERE event = 'agent_offline'`)).map((row) => JSON.parse(row.data).agentId as string);

  clock.advance(a!.config.manager.offlineTimeoutMs);
  const before = await fenceOf(first, SWEEP_JOB);
  const ticks = await Promise.all(managers.map((m) => m.jobs.sweeper.tick()));
  // The apps' own timers tick on the same clock: whoever claimed, one claim for the interval.
  t.equal(await fenceOf(first, SWEEP_JOB), before + 1, 'one replica claimed the interval');
  t.ok(ticks.filter((tick) => tick.outcome === 'ran').length <= 1, 'the others skipped it');
  const announced = await eventually(offlineEvents, (ids) => ids.length > 0);
  t.same(announced, [agent.id], 'exactly one agent_offline');
  const [row] = await selectRows<{ status: string }>(first, 'SELECT status FROM agents WHERE id = ?', [agent.id]);
  t.equal(row!.status, 'offline');

  // The next interval: swept once more, nothing announced twice.
  clock.advance(a!.config.manager.offlineTimeoutMs);
  await Promise.all(managers.map((m) => m.jobs.sweeper.tick()));
  t.equal(await fenceOf(first, SWEEP_JOB), before + 2);
  t.same(await offlineEvents(), [agent.id]);
});

t.test('three Threat Cloud replicas: one reputation refresh per interval', async (t) => {
  const h = await buildIntelHarnessOn(t, 'postgres');
  const storages = [h.storage, await closedAtEnd(t, h.storage), await closedAtEnd(t, h.storage)];
  await report(h, [
    { type: 'ip', value: '203.0.113.1' },
    { type: 'ip', value: '203.0.113.2' },
    { type: 'domain', value: 'stale.example' },
  ]);
  const refreshes = async () => Number((await selectRows<{ value: number }>(h.storage, `SELECT value FROM tc_state WHERE name = 'refresh'`))[0]!.value);
  const refreshesBefore = await refreshes();
  // Unseen for 100 days: every IoC expires at the next refresh.
  h.clock.advance(100 * DAY);
  const jobs = storages.map((storage) => createReputationRefresh({ storage, iocs: createReputationRefreshStore(storage), clock: h.clock }));

  const runs = await Promise.all(jobs.map((job) => job.runLeased(REFRESH_INTERVAL_MS)));
  const ran = runs.filter((run) => run.outcome === 'ran');
  t.equal(ran.length, 1, 'one replica refreshed');
  t.equal(runs.filter((run) => run.outcome === 'skipped').length, 2, 'the others skipped the tick');
  t.match(ran[0], { outcome: 'ran', result: { expired: 3 } });
  t.equal(await refreshes(), refreshesBefore + 1, 'one refresh marked');
  t.equal(await fenceOf(h.storage, REFRESH_JOB), 1);
  const statuses = await selectRows<{ status: string }>(h.storage, 'SELECT DISTINCT status FROM iocs');
  t.same(statuses.map((row) => row.status), ['expired']);

  t.same(
    (await Promise.all(jobs.map((job) => job.runLeased(REFRESH_INTERVAL_MS)))).map((run) => run.outcome),
    ['skipped', 'skipped', 'skipped'],
    'within the same interval nobody refreshes again',
  );
  h.clock.advance(REFRESH_INTERVAL_MS);
  const next = await Promise.all(jobs.map((job) => job.runLeased(REFRESH_INTERVAL_MS)));
  t.equal(next.filter((run) => run.outcome === 'ran').length, 1, 'the next interval: one refresh again');
  t.equal(await fenceOf(h.storage, REFRESH_JOB), 2);
});

t.test('three Threat Cloud replicas correlating the same reports: one campaign, detected once', async (t) => {
  const h = await buildIntelHarnessOn(t, 'postgres');
  const storages = [h.storage, await closedAtEnd(t, h.storage), await closedAtEnd(t, h.storage)];
  await report(
    h,
    Array.from({ length: 8 }, (_, i) => ({ type: 'ip', value: `198.51.100.${i + 1}`, category: 'c2' })),
  );
  const jobs = storages.map((storage) =>
    createCorrelationJob(createCorrelator(storage, h.clock), h.app.log, DEFAULT_SCHEDULE, createJobLease(storage, { name: CORRELATION_JOB, clock: h.clock })),
  );
  for (const job of jobs) {
    job.start();
    t.teardown(() => job.stop());
  }
  // A new check interval, so the app's own timer (same clock) cannot have taken this one.
  h.clock.advance(DEFAULT_SCHEDULE.checkMs);
  const before = await fenceOf(h.storage, CORRELATION_JOB);
  await Promise.all(jobs.map((job) => job.runNow()));
  t.equal(await fenceOf(h.storage, CORRELATION_JOB), before + 1, 'one replica claimed the check');
  const detected = async () => (await selectRows<{ campaign_id: string }>(h.storage, `SELECT campaign_id FROM campaign_events WHERE event = 'Campaign detected'`)).length;
  t.equal(await eventually(detected, (n) => n > 0), 1, '"Campaign detected" once');
  t.equal((await selectRows(h.storage, 'SELECT id FROM campaigns')).length, 1, 'one campaign');
  t.notOk(await jobs[0]!.hasPending(), 'every report correlated');
});

t.test('three Threat Cloud replicas: one audit purge per interval', async (t) => {
  const first = (await storageOn('postgres'))!;
  t.teardown(() => first.close());
  const storages = [first, await closedAtEnd(t, first), await closedAtEnd(t, first)];
  const clock = new ManualClock();
  for (let i = 0; i < 7; i += 1) {
    await execute(first, `INSERT INTO tc_audit_log (id, action, resource, details, api_key, ip, created_at) VALUES (?, 'query', 'iocs', '{}', NULL, NULL, ?)`, [
      `old-${i}`,
      toIso(clock.now() - 40 * DAY),
    ]);
  }
  const jobs = storages.map((storage) => createAuditRetention({ storage, audit: createAuditStore(storage, clock), clock, days: { queryDays: 30, writeDays: 400 }, batchSize: 3 }));
  const runs = await Promise.all(jobs.map((job) => job.purgeLeased(PURGE_INTERVAL_MS)));
  t.same(
    runs.filter((run) => run.outcome === 'ran').map((run) => run.outcome === 'ran' && run.result),
    [{ query: 7, writes: 0 }],
    'one replica purged, in batches',
  );
  t.equal(runs.filter((run) => run.outcome === 'skipped').length, 2);
  t.equal(await countIn(first, 'tc_audit_log'), 0);
  t.equal(await fenceOf(first, RETENTION_JOB), 1);
});

t.test('two Auth replicas: one maintenance sweep per hour', async (t) => {
  const first = (await storageOn('postgres'))!;
  const auths = [await buildAuth(t, { storage: first }), await buildAuth(t, { storage: await replicaOf(first) })];
  const account = await registerUser(auths[0]!.app);
  await execute(first, `UPDATE users SET tier = 'pro', plan_expires_at = ? WHERE id = ?`, [toIso(auths[0]!.clock.now() - 1), account.id]);
  const runs = await Promise.all(auths.map((auth) => auth.jobs.maintenance.tick()));
  t.same(runs.map((run) => run.outcome).sort(), ['ran', 'skipped']);
  t.match(runs.find((run) => run.outcome === 'ran'), { result: { plansExpired: 1 } });
  t.equal(await fenceOf(first, MAINTENANCE_JOB), 1);
  const expiries = await selectRows(first, `SELECT id FROM audit_log WHERE action = 'subscription.plan_expired'`);
  t.equal(expiries.length, 1, 'the plan dropped to community once');
  t.same((await Promise.all(auths.map((auth) => auth.jobs.maintenance.tick()))).map((run) => run.outcome), ['skipped', 'skipped'], 'not again within the hour');
});
