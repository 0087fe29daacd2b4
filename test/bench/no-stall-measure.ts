/**
 * Times every list, filter, search, statistics and summary request of the Manager and the
 * Auth administration on a large seeded database, in process with `inject`, so
 * the time is the event loop's own. Not part of `npm test`:
 *
 *   node --import tsx test/bench/no-stall-measure.ts [--data=DIR] [--events=N] [--agents=N]
 *     [--users=N] [--audit=N] [--runs=N] [--json=FILE] [--jobs] [--no-requests]
 *
 * With `--data=DIR` holding a `panguard.db` the file is reused (migrated first, which times
 * any pending migration); otherwise a temp folder is seeded.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildAuthApp } from '../../src/auth/app.js';
import type { Maintenance } from '../../src/auth/jobs/maintenance.js';
import { createBridges } from '../../src/bridges/index.js';
import { loadConfig, resolveConfig } from '../../src/config.js';
import { buildManagerApp } from '../../src/manager/app.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import type { App } from '../../src/shared/base-app.js';
import { systemClock } from '../../src/shared/clock.js';
import { startCheckpointer } from '../../src/shared/db/checkpointer.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase } from '../../src/shared/db/open.js';
import { sqliteDeps, TEST_SECRETS } from '../helper.js';
import { seedFleetAndAccounts } from './seed-fleet.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';

const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [name, value = 'true'] = arg.replace(/^--/, '').split('=') as [string, string?];
    return [name, value];
  }),
);
const num = (name: string, fallback: number) => (args[name] === undefined ? fallback : Number(args[name]));
const runs = num('runs', 5);

const dataDir = args.data ?? mkdtempSync(path.join(tmpdir(), 'panguard-nostall-'));
const dbFile = path.join(dataDir, 'panguard.db');
const reuse = existsSync(dbFile);
const db = openDatabase(dbFile);
const migrateStarted = performance.now();
const applied = migrate(db, MIGRATIONS);
process.stderr.write(`migrations ${applied.join(',') || 'none'} in ${(performance.now() - migrateStarted).toFixed(0)} ms\n`);
if (!reuse) {
  const seeded = seedFleetAndAccounts(db, { events: num('events', 1_000_000), agents: num('agents', 20_000), users: num('users', 100_000), audit: num('audit', 1_000_000) });
  process.stderr.write(`seeded in ${seeded.seconds.toFixed(1)} s\n`);
}
// Heartbeats as seeded (60 % within a minute, 10 % stale, 30 % offline) however long ago the seed ran.
db.prepare(`UPDATE agents SET last_heartbeat_ms = last_heartbeat_ms + (? - (SELECT max(last_heartbeat_ms) FROM agents) - 1000)`).run(Date.now());
db.pragma('wal_checkpoint(TRUNCATE)');
// As src/main.ts does: commits never checkpoint on the event loop.
const checkpointer = startCheckpointer(db);

const config = resolveConfig(loadConfig({ env: { DATA_DIR: dataDir, LOG_LEVEL: 'silent', RATE_LIMIT_SCALE: '1000000', AUTH_SCRYPT_LOG_N: '14' } }), TEST_SECRETS);
// Wired as src/servers.ts wires them: ingestion also reports to the Threat Cloud, deletion reaches the Manager.
const bridges = createBridges(sqliteStorageOf(db), systemClock);
const manager = await buildManagerApp(sqliteDeps(db, config, systemClock), bridges.manager);
let authMaintenance: Maintenance | undefined;
const auth = await buildAuthApp(sqliteDeps(db, config, systemClock), { ...bridges.auth, scryptLogNOverride: 10, onJobs: (jobs) => (authMaintenance = jobs.maintenance) });
await manager.ready();
await auth.ready();

const operator = { authorization: `Bearer ${TEST_SECRETS.managerAuthToken}` };
const email = `measure-${Date.now()}@example.com`;
const registered = await auth.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: '203.0.113.9', payload: { email, name: 'Measure', password: 'correct horse battery staple' } });
if (registered.statusCode !== 201) throw new Error(`register: ${registered.statusCode} ${registered.body}`);
const { token, user } = registered.json().data as { token: string; user: { id: string } };
db.prepare(`UPDATE users SET role = 'admin' WHERE id = ?`).run(user.id);
const admin = { authorization: `Bearer ${token}` };

const one = <T>(sql: string) => db.prepare(sql).get() as T;
const agent = one<{ id: string; org_id: string }>(`SELECT id, org_id FROM agents WHERE org_id = 'acme' LIMIT 1`);
const busyAgent = one<{ agent_id: string }>(`SELECT agent_id FROM threat_events INDEXED BY threat_events_agent_time GROUP BY agent_id ORDER BY count(*) DESC LIMIT 1`);
const actor = one<{ actor_id: string }>(`SELECT actor_id FROM audit_log WHERE action = 'login.success' LIMIT 1`);
const someUser = one<{ id: string }>(`SELECT id FROM users WHERE role = 'user' LIMIT 1`);
const since7d = new Date(Date.now() - 7 * 86_400_000).toISOString();
const since1d = new Date(Date.now() - 86_400_000).toISOString();
const until3d = new Date(Date.now() - 3 * 86_400_000).toISOString();
const deep = (limit: number) => `page=${Math.floor(9_999 / limit) + 1}&limit=${limit}`;

const requests: Array<[App, Record<string, string>, string]> = [
  [manager, operator, '/api/agents?limit=50'],
  [manager, operator, `/api/agents?${deep(200)}`],
  [manager, operator, '/api/agents?status=online&limit=50'],
  [manager, operator, `/api/agents?status=offline&${deep(50)}`],
  [manager, operator, '/api/agents?status=stale&limit=50'],
  [manager, operator, '/api/agents?org_id=acme&limit=50'],
  [manager, operator, '/api/agents?tag=prod&limit=50'],
  [manager, operator, '/api/agents?tag=rare&tag=prod&limit=50'],
  [manager, operator, '/api/agents?status=online&org_id=default&tag=web&limit=50'],
  [manager, operator, `/api/agents/${agent.id}`],
  [manager, operator, `/api/agents/${busyAgent.agent_id}`],
  [manager, operator, '/api/threats?limit=50'],
  [manager, operator, `/api/threats?${deep(200)}`],
  [manager, operator, `/api/threats?severity=critical&${deep(200)}`],
  [manager, operator, `/api/threats?org_id=default&type=c2_connection&${deep(200)}`],
  [manager, operator, `/api/threats?org_id=acme&severity=critical&type=exploit_attempt&limit=50`],
  [manager, operator, `/api/threats?agent_id=${busyAgent.agent_id}&limit=50`],
  [manager, operator, `/api/threats?since=${since7d}&limit=50`],
  [manager, operator, `/api/threats?since=${since7d}&until=${until3d}&severity=high&${deep(200)}`],
  [manager, operator, `/api/threats?since=${since1d}&org_id=globex&type=port_scan&limit=50`],
  [manager, operator, '/api/threats?type=no_such_type&limit=50'],
  [manager, operator, '/api/threats/summary?period=24h'],
  [manager, operator, '/api/threats/summary?period=7d'],
  [manager, operator, '/api/threats/summary?period=30d'],
  [manager, operator, '/api/threats/summary?period=30d&org_id=default'],
  [manager, operator, '/api/threats/summary?period=30d&org_id=acme'],
  [manager, operator, '/api/overview'],
  [manager, operator, '/api/policy/history?limit=50'],
  [manager, operator, `/api/policy/history?page=2&limit=100`],
  [manager, {}, '/health'],
  [auth, admin, '/api/admin/users?limit=50'],
  [auth, admin, `/api/admin/users?${deep(200)}`],
  [auth, admin, '/api/admin/users?q=a&limit=50'],
  [auth, admin, '/api/admin/users?q=alice&limit=50'],
  [auth, admin, `/api/admin/users?q=bob.jones&${deep(50)}`],
  [auth, admin, '/api/admin/users?q=zzz&limit=50'],
  [auth, admin, '/api/admin/users?role=admin&limit=50'],
  [auth, admin, `/api/admin/users?tier=enterprise&${deep(50)}`],
  [auth, admin, '/api/admin/users?q=carol&role=user&tier=pro&limit=50'],
  [auth, admin, '/api/admin/sessions?limit=50'],
  [auth, admin, `/api/admin/sessions?${deep(200)}`],
  [auth, admin, '/api/admin/audit-log?limit=50'],
  [auth, admin, `/api/admin/audit-log?${deep(200)}`],
  [auth, admin, `/api/admin/audit-log?action=admin.user.update&${deep(200)}`],
  [auth, admin, `/api/admin/audit-log?actorId=${actor.actor_id}&limit=50`],
  [auth, admin, `/api/admin/audit-log?action=logout&actorId=${actor.actor_id}&limit=50`],
  [auth, admin, `/api/admin/audit-log?since=${since7d}&limit=50`],
  [auth, admin, `/api/admin/audit-log?since=${since7d}&until=${until3d}&action=login.failure&${deep(200)}`],
  [auth, admin, '/api/admin/audit-log?action=no.such.action&limit=50'],
  [auth, admin, '/api/admin/stats'],
  [auth, admin, `/api/admin/users/${someUser.id}`],
  [auth, admin, `/api/admin/users/${user.id}`],
  [auth, {}, '/health'],
];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const rows: Array<{ request: string; status: number; firstMs: number; medianMs: number; maxMs: number; total: number | null }> = [];
for (const [app, headers, url] of args['no-requests'] ? [] : requests) {
  const times: number[] = [];
  let status = 0;
  let total: number | null = null;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const res = await app.inject({ method: 'GET', url, headers });
    times.push(performance.now() - started);
    status = res.statusCode;
    total = (res.json() as { pagination?: { total: number } }).pagination?.total ?? null;
  }
  const label = `${app === manager ? 'manager' : 'auth'} GET ${url.replace(/[?&](since|until)=[^&]+/g, (m) => m.slice(0, m.indexOf('=') + 1) + '…')}`;
  rows.push({ request: label, status, firstMs: times[0]!, medianMs: median(times), maxMs: Math.max(...times), total });
  process.stdout.write(`${label.padEnd(110)} ${String(status).padStart(3)} first ${times[0]!.toFixed(1).padStart(7)} median ${median(times).toFixed(1).padStart(7)} max ${Math.max(...times).toFixed(1).padStart(7)} ms  total ${total ?? '-'}\n`);
}
if (args.json) writeFileSync(args.json, JSON.stringify(rows, null, 2));

/**
 * Background jobs as their timers run them, with the longest time the event loop was held:
 * the Manager's sweep after two hours without one (20,000 events not counted yet, every agent
 * still marked online, every window two hours behind) and the Auth sweep of half the sessions expired.
 */
if (args.jobs !== undefined) {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const { ManualClock } = await import('../../src/shared/clock.js');
  const job = async (label: string, work: () => unknown) => {
    // The jobs pause on unref'd timers, as in the server, where the listeners keep the process up.
    const keepAlive = setInterval(() => undefined, 1000);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = performance.now();
    const pending = work();
    // A job that returns no promise ran in one piece: it held the loop the whole time.
    const held = pending instanceof Promise ? null : performance.now() - started;
    await pending;
    const took = performance.now() - started;
    delay.disable();
    clearInterval(keepAlive);
    const longest = held ?? delay.max / 1e6;
    const p99 = held ?? delay.percentile(99) / 1e6;
    process.stdout.write(`${label.padEnd(80)} total ${took.toFixed(0).padStart(6)} ms, event loop held at most ${longest.toFixed(1)} ms (p99 ${p99.toFixed(1)})\n`);
  };
  // One clock moves the windows: the measured app's own sweeper would move them back.
  await manager.close();
  const later = Date.now() + 2 * 3_600_000;
  db.prepare(`
    INSERT INTO threat_events (id, agent_id, org_id, hostname, type, severity, confidence, rule_id, details, source_ip, timestamp, timestamp_ms, received_at)
    SELECT 'evt_burst_' || seq, agent_id, org_id, hostname, type, severity, confidence, rule_id, details, source_ip, timestamp, ? - (seq % 3600000), received_at
    FROM threat_events ORDER BY seq DESC LIMIT 20000`).run(later);
  db.prepare(`UPDATE agents SET status = 'online'`).run();
  // The set-up's own writes are checkpointed first, so the job is not charged for them.
  db.pragma('wal_checkpoint(TRUNCATE)');
  let sweeper: { sweep(): unknown; sweepInSlices?: () => Promise<void> } | undefined;
  const twoHoursLater = await buildManagerApp(sqliteDeps(db, config, new ManualClock(later)), { ...createBridges(sqliteStorageOf(db), new ManualClock(later)).manager, onJobs: (jobs) => (sweeper = jobs.sweeper) });
  await job('manager sweep 2 h late: 20,000 new events, 20,000 agents re-checked, windows moved', () =>
    sweeper!.sweepInSlices ? sweeper!.sweepInSlices() : sweeper!.sweep(),
  );
  await twoHoursLater.close();
  db.prepare(`UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z' WHERE rowid % 2 = 0`).run();
  db.pragma('wal_checkpoint(TRUNCATE)');
  const maintenance = authMaintenance!;
  await job('auth maintenance: half the sessions expired', () => maintenance.runInSlices());
}

if (args.jobs === undefined) await manager.close();
await auth.close();
await checkpointer.stop();
closeDatabase(db);
if (!args.data) rmSync(dataDir, { recursive: true, force: true });
