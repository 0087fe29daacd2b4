import t, { type Test } from 'tap';
import { createOrgData } from '../../src/bridges/auth-to-manager-org-data.js';
import { THREAT_COUNTS_LOCK } from '../../src/manager/stores/threat-counts.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import type { App } from '../../src/shared/base-app.js';
import { ManualClock } from '../../src/shared/clock.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase } from '../../src/shared/db/open.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { selectRows } from '../engines.js';
import { testConfig } from '../helper.js';
import { event, buildManager, buildManagerOn, onBothEngines, OPERATOR, register, type RegisteredAgent } from './fixtures.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const PERIODS = {
  '1h': { span: HOUR, bucket: '5m', ms: 5 * MINUTE },
  '6h': { span: 6 * HOUR, bucket: '15m', ms: 15 * MINUTE },
  '24h': { span: DAY, bucket: '1h', ms: HOUR },
  '7d': { span: 7 * DAY, bucket: '6h', ms: 6 * HOUR },
  '30d': { span: 30 * DAY, bucket: '1d', ms: DAY },
} as const;
type Period = keyof typeof PERIODS;
const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function post(app: App, agent: RegisteredAgent, timestamps: number[], next: () => number) {
  for (let i = 0; i < timestamps.length; i += 500) {
    const events = timestamps.slice(i, i + 500).map((ms) => event({ severity: SEVERITIES[Math.floor(next() * 4)], timestamp: new Date(ms).toISOString() }));
    const res = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events } });
    if (res.statusCode !== 201) throw new Error(`${res.statusCode} ${res.body}`);
  }
}

/** Every bucket of the period as plain SQL counts it: the events at or after now − span, the last bucket open at the top. */
async function reference(storage: Storage, period: Period, now: number, orgId?: string) {
  const { span, ms } = PERIODS[period];
  const first = Math.floor((now - span) / ms) * ms;
  const last = Math.floor(now / ms) * ms;
  const series = [];
  for (let start = first; start <= last; start += ms) {
    const [row] = await selectRows<Record<string, number>>(
      storage,
      `SELECT ${SEVERITIES.map((s) => `coalesce(sum(CASE WHEN severity = '${s}' THEN 1 ELSE 0 END), 0) AS ${s}`).join(', ')} FROM threat_events
       WHERE timestamp_ms >= @from AND (@last = 1 OR timestamp_ms < @end) AND (CAST(@orgId AS text) IS NULL OR org_id = @orgId)`,
      { from: Math.max(start, now - span), end: start + ms, last: start === last ? 1 : 0, orgId: orgId ?? null },
    );
    series.push({ timestamp: new Date(start).toISOString(), total: SEVERITIES.reduce((n, s) => n + row![s]!, 0), ...row });
  }
  return { period, bucket: PERIODS[period].bucket, series };
}

async function checkSeries(t: Test, app: App, storage: Storage, now: number, label: string) {
  for (const period of Object.keys(PERIODS) as Period[]) {
    for (const orgId of [undefined, 'default', 'acme', 'nobody']) {
      const query = `period=${period}${orgId ? `&org_id=${orgId}` : ''}`;
      const res = await app.inject({ url: `/api/threats/timeseries?${query}`, headers: OPERATOR });
      t.equal(res.statusCode, 200, `${label}: ${query}`);
      const data = res.json().data;
      t.same(data, await reference(storage, period, now, orgId), `${label}: ${query} buckets`);
      // The same events as the summary of the period.
      const summary = (await app.inject({ url: `/api/threats/summary?${query}`, headers: OPERATOR })).json().data;
      const sums = Object.fromEntries(SEVERITIES.map((s) => [s, data.series.reduce((n: number, p: Record<string, number>) => n + p[s]!, 0)]));
      t.same({ total: data.series.reduce((n: number, p: { total: number }) => n + p.total, 0), ...sums }, { total: summary.total, ...summary.bySeverity }, `${label}: ${query} adds up to its summary`);
    }
  }
}

onBothEngines('time series: every bucket aligned in UTC, counts exact and equal to the summary, per org, as time passes and data is deleted', async (t, engine) => {
  // Not on a bucket boundary, so the first bucket of every period is partial.
  const clock = new ManualClock(Date.parse('2026-03-07T12:02:17.123Z'));
  const { app, storage, jobs } = await buildManagerOn(t, engine, { clock });
  const next = random(14);
  const web = await register(app, { hostname: 'web-01' });
  const db1 = await register(app, { hostname: 'db-01', org_id: 'acme' });
  const now = clock.now();
  // Around every period's start (just before, at, and inside the partial bucket), now, and ahead of the clock.
  const edges = Object.values(PERIODS).flatMap(({ span }) => [now - span - 1, now - span, now - span + 1, now - span + 2 * MINUTE]);
  await post(app, web, [...edges, now, now + 4 * MINUTE, ...Array.from({ length: 1500 }, () => now - Math.floor(next() * 35 * DAY))], next);
  await post(app, db1, [...edges, now - 1, ...Array.from({ length: 700 }, () => now - Math.floor(next() * 10 * DAY))], next);

  const day = (await app.inject({ url: '/api/threats/timeseries', headers: OPERATOR })).json().data;
  t.equal(day.period, '24h', 'the default period is 24h');
  t.equal(day.bucket, '1h');
  t.equal(day.series.length, 25, '24 whole hours and the partial one at each end');
  t.equal(day.series[0].timestamp, '2026-03-06T12:00:00.000Z', 'aligned on the hour in UTC');
  t.equal(day.series.at(-1).timestamp, '2026-03-07T12:00:00.000Z');
  const hour = (await app.inject({ url: '/api/threats/timeseries?period=1h', headers: OPERATOR })).json().data;
  t.same([hour.bucket, hour.series.length, hour.series[0].timestamp], ['5m', 13, '2026-03-07T11:00:00.000Z']);

  await checkSeries(t, app, storage, clock.now(), 'stored, never swept');
  await jobs.sweeper.sweep();
  await checkSeries(t, app, storage, clock.now(), 'swept');

  clock.advance(7 * HOUR + 1234);
  await post(app, web, Array.from({ length: 300 }, () => clock.now() - Math.floor(next() * 2 * HOUR)), next);
  await checkSeries(t, app, storage, clock.now(), 'seven hours later');

  // Account deletion takes the org's events out of its buckets and the fleet's (under the counts'
  // lock, as deleteOf asks of its caller: the app's own sweeper may be counting meanwhile).
  await storage.transaction({ durable: false, locks: [THREAT_COUNTS_LOCK] }, (tx) => createOrgData(storage).deleteOf(tx, 'acme'));
  await checkSeries(t, app, storage, clock.now(), 'org deleted');

  // Forty days on: buckets older than any period go in the sweep; the series stays exact.
  clock.advance(40 * DAY);
  await post(app, web, Array.from({ length: 200 }, () => clock.now() - Math.floor(next() * 31 * DAY)), next);
  const oldBuckets = async () => Number((await selectRows<{ n: number }>(storage, 'SELECT count(*) AS n FROM threat_buckets WHERE bucket_ms < ?', [clock.now() - 31 * DAY]))[0]!.n);
  t.ok((await oldBuckets()) > 0, 'old buckets before the sweep');
  await jobs.sweeper.sweep();
  t.equal(await oldBuckets(), 0, 'old buckets pruned');
  await checkSeries(t, app, storage, clock.now(), 'forty days later, pruned');
});

onBothEngines('time series: operator only; a bad period is a 400 in the envelope', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  const agent = await register(app);
  t.equal((await app.inject({ url: '/api/threats/timeseries' })).statusCode, 401, 'no token');
  const summaryAsAgent = await app.inject({ url: '/api/threats/summary', headers: agent.headers });
  const asAgent = await app.inject({ url: '/api/threats/timeseries', headers: agent.headers });
  t.equal(asAgent.statusCode, summaryAsAgent.statusCode, 'an agent token is refused like on the summary');
  t.not(asAgent.statusCode, 200);
  for (const query of ['period=2h', 'period=', 'org_id=']) {
    const res = await app.inject({ url: `/api/threats/timeseries?${query}`, headers: OPERATOR });
    t.equal(res.statusCode, 400, query);
    t.equal(res.json().ok, false);
    t.type(res.json().error, 'string');
  }
  t.match((await app.inject({ url: '/api/threats/timeseries?period=2h', headers: OPERATOR })).json().error, /period must be one of 1h, 6h, 24h, 7d, 30d/);
});

// SQLite only: it migrates an old SQLite file (PostgreSQL starts from the baseline schema).
t.test('migration 14 fills the buckets from the events already stored', async (t) => {
  const config = testConfig(t);
  const db = openDatabase(config.databasePath);
  t.teardown(() => closeDatabase(db));
  migrate(db, MIGRATIONS.filter((migration) => migration.version < 14));
  const now = Date.now();
  db.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 3000),
    e AS MATERIALIZED (SELECT i, abs(random()) % (40 * 86400000) AS age, abs(random()) % 4 AS sev FROM n)
    INSERT INTO threat_events (id, agent_id, org_id, hostname, type, severity, details, timestamp, timestamp_ms, received_at)
    SELECT 'evt_old_' || i, 'agent-' || (i % 7), CASE i % 3 WHEN 0 THEN 'default' WHEN 1 THEN 'acme' ELSE 'globex' END, 'h', 't',
      CASE sev WHEN 0 THEN 'low' WHEN 1 THEN 'medium' WHEN 2 THEN 'high' ELSE 'critical' END, '{}', '', @now - age, ''
    FROM e ORDER BY @now - age`).run({ now });
  migrate(db, MIGRATIONS);
  const { app, storage } = await buildManager(t, { db, config, clock: new ManualClock(now) });
  await checkSeries(t, app, storage, now, 'migrated');
});
