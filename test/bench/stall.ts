import http from 'node:http';
import { copyFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createPasswordHasher } from '../../src/auth/services/password-hasher.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { seededIp } from '../../src/threat-cloud/seed.js';
import { runCli } from '../../src/cli/index.js';
import { startPostgres } from '../postgres.js';
import { seedFleetAndAccounts } from './seed-fleet.js';
import type { BenchContext, BenchRow, Scenario } from './types.js';

/**
 * No request may stall the process. Every paginated, filter, search, statistics and
 * analytics read of the three services runs once on a large database while a probe asks
 * another service's /health in a loop; then 20 heavy reads at once. All three services share
 * one event loop, so the probe's worst latency is how long any other caller waited.
 * `npm run bench -- stall [--iocs=N --events=N --agents=N --users=N --audit=N] [--engine=postgres]`.
 */
const DEFAULTS = { iocs: 1_000_000, events: 1_000_000, agents: 20_000, users: 100_000, audit: 1_000_000 };
const ROUTE_TARGET_MS = 200;
const PROBE_TARGET_MS = 100;
const BURST_TARGET_MS = 250;
const BURST_SIZE = 20;
const PROBE_GAP_MS = 2;
/** Two and a half ticks of prom-client's event-loop histogram (10 ms resolution). */
const LOOP_SETTLE_MS = 25;
const REQUEST_TIMEOUT_MS = 120_000;
/** The production scrypt cost (the runner's AUTH_SCRYPT_LOG_N), so logging in costs what it costs. */
const ADMIN_SCRYPT_LOG_N = 17;
const ADMIN = { id: 'usr_stall_admin', email: 'stall-admin@example.com', password: 'stall bench password 0123' };
const MANAGER_TOKEN = `mgr_bench_${'m'.repeat(40)}`;
const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * Heartbeat timeouts of the scenario's process. The seed lays the fleet out for the defaults
 * (2 and 5 minutes): its online agents would turn stale, then offline, while the scenario runs,
 * and the sweeper's mass transition would be measured in some route's window. With a day and a
 * week the seeded statuses hold for the run (the stale and offline agents are moved back to match).
 */
const FLEET_TIMEOUTS = { MANAGER_HEARTBEAT_TIMEOUT_MS: String(DAY_MS), MANAGER_OFFLINE_TIMEOUT_MS: String(7 * DAY_MS) };

type Service = 'threatCloud' | 'manager' | 'auth';
const SERVICE_NAMES: Record<Service, string> = { threatCloud: 'tc', manager: 'manager', auth: 'auth' };

interface Route {
  service: Service;
  path: string;
}

interface Reply {
  status: number;
  ms: number;
  body: string;
}

/** Filter values that exist in the seeded data, read from the file before the process starts. */
interface Samples {
  iocValue: string;
  iocPrefix: string;
  agentId: string;
  orgId: string;
  tag: string | null;
  eventType: string;
  emailPrefix: string;
  namePrefix: string;
  actorId: string | null;
  auditAction: string;
}

function sizes(flags: Record<string, string>): typeof DEFAULTS {
  const result = { ...DEFAULTS };
  for (const name of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
    if (flags[name] === undefined) continue;
    const value = Number(flags[name]);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got ${flags[name]}`);
    result[name] = value;
  }
  if (result.events > 0 && result.agents === 0) throw new Error('--events needs --agents of at least 1');
  return result;
}

/** One row near the middle of a table (by rowid, so no scan), or null when it is empty. */
function middleRow<T>(db: Db, sql: string): T | null {
  const table = /FROM (\w+)/.exec(sql)![1]!;
  const { n } = db.prepare(`SELECT coalesce(max(rowid), 0) AS n FROM ${table}`).get() as { n: number };
  return (db.prepare(`${sql} AND rowid >= ? ORDER BY rowid LIMIT 1`).get(Math.floor(n / 2)) as T | undefined) ?? null;
}

function readSamples(db: Db, iocs: number): Samples {
  const event = middleRow<{ agent_id: string; org_id: string; type: string }>(db, 'SELECT agent_id, org_id, type FROM threat_events WHERE 1');
  const agent = middleRow<{ id: string; org_id: string }>(db, 'SELECT id, org_id FROM agents WHERE 1');
  const tag = (db.prepare('SELECT tag FROM agent_tags LIMIT 1').get() as { tag: string } | undefined)?.tag ?? null;
  const user = middleRow<{ email: string; name: string }>(db, `SELECT email, name FROM users WHERE id <> '${ADMIN.id}'`);
  const audit = middleRow<{ actor_id: string | null; action: string }>(db, 'SELECT actor_id, action FROM audit_log WHERE actor_id IS NOT NULL');
  const value = seededIp(Math.floor(Math.max(1, iocs) * 0.37));
  return {
    iocValue: value,
    // A prefix shared by about 1/256 of the seeded IPs.
    iocPrefix: value.split('.').slice(0, 2).join('.') + '.',
    agentId: event?.agent_id ?? agent?.id ?? 'agt_none',
    orgId: event?.org_id ?? agent?.org_id ?? 'default',
    tag,
    eventType: event?.type ?? 'brute_force',
    emailPrefix: (user?.email ?? 'stall').slice(0, 6),
    namePrefix: (user?.name ?? 'Stall').slice(0, 4),
    actorId: audit?.actor_id ?? null,
    auditAction: audit?.action ?? 'login.success',
  };
}

/** Seeds the scenario's own data folder before its process opens it; returns the filter values. */
async function prepare(context: BenchContext, dataDir: string, size: typeof DEFAULTS): Promise<Samples> {
  if (size.iocs > 0) context.seedIocs(dataDir, size.iocs);
  const passwordHash = await createPasswordHasher(ADMIN_SCRYPT_LOG_N).hash(ADMIN.password);
  const db = openDatabase(path.join(dataDir, 'panguard.db'));
  try {
    migrate(db, MIGRATIONS);
    const seeded = seedFleetAndAccounts(db, { events: size.events, agents: size.agents, users: size.users, audit: size.audit });
    process.stderr.write(
      `seeded ${seeded.agents} agents, ${seeded.events} events, ${seeded.users} users (${seeded.sessions} sessions), ${seeded.audit} audit entries in ${seeded.seconds.toFixed(1)} s\n`,
    );
    const now = Date.now();
    db.prepare(`UPDATE agents SET last_heartbeat_ms = ? WHERE status = 'stale'`).run(now - 2 * DAY_MS);
    db.prepare(`UPDATE agents SET last_heartbeat_ms = last_heartbeat_ms - 8 * ? WHERE status = 'offline'`).run(DAY_MS);
    // Seeded accounts exist already, so the first registration would not be an admin.
    db.prepare(
      `INSERT INTO users (id, email, name, password_hash, role, tier, created_at, updated_at) VALUES (?, ?, 'Stall Bench Admin', ?, 'admin', 'enterprise', ?, ?)`,
    ).run(ADMIN.id, ADMIN.email, passwordHash, new Date(now).toISOString(), new Date(now).toISOString());
    return readSamples(db, size.iocs);
  } finally {
    closeDatabase(db);
  }
}

/** A keep-alive client per purpose, so the probe never waits for the route's socket. */
function client(ca: Buffer) {
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64, ca });
  return {
    get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
      const started = performance.now();
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      const attempt = (mayRetry: boolean): Promise<Reply> =>
        new Promise((resolve, reject) => {
          const req = (secure ? https : http).request(
            target,
            { headers, agent: secure ? httpsAgent : httpAgent, timeout: REQUEST_TIMEOUT_MS, ...(secure ? { servername: 'localhost' } : {}) },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (chunk: Buffer) => chunks.push(chunk));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, body: Buffer.concat(chunks).toString('utf8') }));
              res.on('error', reject);
            },
          );
          req.on('timeout', () => req.destroy(new Error(`timeout requesting ${url}`)));
          req.on('error', (error: NodeJS.ErrnoException) => {
            // After a long stall the server's keep-alive timer may close a kept socket while a
            // request is on its way: send it once more; the time waited still counts.
            if (mayRetry && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) resolve(attempt(false));
            else reject(error);
          });
          req.end();
        });
      return attempt(true);
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
type Client = ReturnType<typeof client>;

/** Asks `url` in a loop until stopped; the worst latency is how long the loop kept it waiting. */
function startProbe(web: Client, url: string) {
  let running = true;
  let worst = 0;
  let count = 0;
  let failures = 0;
  let first = () => {};
  const firstAnswer = new Promise<void>((resolve) => (first = resolve));
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        if ((await web.get(url)).status !== 200) failures += 1;
      } catch {
        failures += 1;
      }
      // A failed probe waited too: its time counts.
      worst = Math.max(worst, performance.now() - started);
      count += 1;
      first();
      await new Promise((resolve) => setTimeout(resolve, PROBE_GAP_MS));
    }
  })();
  return {
    /** Resolves after the first probe answered, so the measured request always overlaps probes. */
    ready: firstAnswer,
    async stop() {
      running = false;
      await loop;
      return { worst, count, failures };
    },
  };
}

/**
 * The worst event-loop delay the process recorded since the previous call: prom-client's
 * default metrics read `perf_hooks.monitorEventLoopDelay` and reset it on every scrape (one
 * histogram per service registry; the Auth Server's is used, the loop is the same). It samples
 * every 10 ms and a sample is the whole interval, so an idle loop reads about 10 ms, and a
 * window shorter than one interval reads 0 (no sample).
 */
async function loopDelayMs(web: Client, authUrl: string): Promise<number> {
  const reply = await web.get(`${authUrl}/metrics`);
  if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}: run with METRICS_ENABLED=true`);
  const match = /^panguard_nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(reply.body);
  if (!match) throw new Error('/metrics has no panguard_nodejs_eventloop_lag_max_seconds');
  // A reset histogram records nothing until its second tick (the first only notes the time):
  // a stall that began at once would go unseen. Two ticks pass before anything is sent.
  await new Promise((resolve) => setTimeout(resolve, LOOP_SETTLE_MS));
  return Number(match[1]) * 1000;
}

function routes(samples: Samples, size: typeof DEFAULTS): Route[] {
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const tc = (p: string): Route => ({ service: 'threatCloud', path: p });
  const mgr = (p: string): Route => ({ service: 'manager', path: p });
  const auth = (p: string): Route => ({ service: 'auth', path: p });
  const enc = encodeURIComponent;
  return [
    tc('/api/iocs?limit=50'),
    tc('/api/iocs?limit=50&type=domain'),
    tc('/api/iocs?limit=50&type=ip'),
    tc('/api/iocs?limit=50&category=c2'),
    tc('/api/iocs?limit=50&source=seed'),
    tc('/api/iocs?limit=50&status=active'),
    tc('/api/iocs?limit=50&status=revoked'),
    tc('/api/iocs?limit=50&minReputation=20&maxReputation=40'),
    tc(`/api/iocs?limit=50&since=${enc(iso(now - DAY_MS))}`),
    tc(`/api/iocs?limit=50&q=${enc(samples.iocPrefix)}`),
    tc('/api/iocs?limit=50&type=domain&category=phishing'),
    tc('/api/iocs?limit=200&page=50'),
    tc('/api/iocs?limit=200&page=50&category=c2'),
    tc(`/api/sightings?value=${enc(samples.iocValue)}`),
    tc('/api/campaigns?limit=20'),
    tc('/api/campaigns?status=active'),
    tc('/api/campaigns/stats'),
    tc('/api/audit-log?limit=50'),
    tc('/api/audit-log?action=query'),
    tc('/api/stats'),
    tc('/api/query/timeseries?granularity=hour&period=90d'),
    tc('/api/query/timeseries?granularity=day&period=90d&category=c2'),
    tc('/api/query/geo?period=90d'),
    tc('/api/query/trends?periodDays=90'),
    tc('/api/query/mitre-heatmap?period=90d'),
    tc('/api/feeds/iocs?limit=5000'),
    tc('/api/feeds/iocs?type=domain&maxReputation=50&limit=1000'),
    mgr('/api/agents?limit=50'),
    mgr('/api/agents?status=online'),
    mgr('/api/agents?status=stale'),
    mgr('/api/agents?status=offline'),
    mgr(`/api/agents?org_id=${enc(samples.orgId)}`),
    ...(samples.tag ? [mgr(`/api/agents?tag=${enc(samples.tag)}`)] : []),
    ...(size.agents >= 10_000 ? [mgr('/api/agents?limit=200&page=50')] : []),
    mgr('/api/threats?limit=50'),
    mgr('/api/threats?severity=critical'),
    mgr(`/api/threats?type=${enc(samples.eventType)}`),
    mgr(`/api/threats?agent_id=${enc(samples.agentId)}`),
    mgr(`/api/threats?org_id=${enc(samples.orgId)}`),
    mgr(`/api/threats?since=${enc(iso(now - 7 * DAY_MS))}&until=${enc(iso(now - DAY_MS))}`),
    mgr(`/api/threats?severity=low&type=${enc(samples.eventType)}&org_id=${enc(samples.orgId)}`),
    mgr('/api/threats?limit=200&page=50'),
    mgr('/api/threats/summary'),
    mgr('/api/threats/summary?period=30d'),
    mgr('/api/overview'),
    mgr('/api/policy/history'),
    auth('/api/admin/users?limit=50'),
    auth(`/api/admin/users?q=${enc(samples.emailPrefix)}`),
    auth(`/api/admin/users?q=${enc(samples.namePrefix)}`),
    auth('/api/admin/users?role=admin'),
    auth('/api/admin/users?tier=pro'),
    auth('/api/admin/users?limit=200&page=50'),
    auth('/api/admin/sessions'),
    auth('/api/admin/audit-log?limit=50'),
    auth(`/api/admin/audit-log?action=${enc(samples.auditAction)}`),
    ...(samples.actorId ? [auth(`/api/admin/audit-log?actorId=${enc(samples.actorId)}`)] : []),
    auth(`/api/admin/audit-log?since=${enc(iso(now - 7 * DAY_MS))}&until=${enc(iso(now - DAY_MS))}`),
    auth('/api/admin/audit-log?limit=200&page=50'),
    auth('/api/admin/stats'),
  ];
}

/** What a failed reply said, in a few words. */
function failure(reply: Reply): string {
  try {
    return `HTTP ${reply.status}: ${String((JSON.parse(reply.body) as { error?: unknown }).error).slice(0, 80)}`;
  } catch {
    return `HTTP ${reply.status}`;
  }
}

function summary(reply: Reply): string {
  try {
    const body = JSON.parse(reply.body) as { pagination?: { total: number } };
    return body.pagination ? `total ${body.pagination.total.toLocaleString('en')}` : '';
  } catch {
    return '';
  }
}

/**
 * With `--engine=postgres` the same seeded rows are copied into a durable PostgreSQL cluster by
 * `panguard migrate-data` (as an operator moving up would) and the process runs there; the
 * environment that points it at that database, or none for the SQLite file.
 */
async function engineEnv(context: BenchContext, dataDir: string, stops: Array<() => unknown>): Promise<Record<string, string>> {
  const engine = context.flags.engine ?? 'sqlite';
  if (engine === 'sqlite') return {};
  if (engine !== 'postgres') throw new Error(`--engine must be sqlite or postgres, got ${engine}`);
  // `--slow-log=FILE` keeps every statement over 50 ms the server saw: what to look at when a route misses.
  const slowLog = context.flags['slow-log'];
  const settings: Record<string, number> = slowLog ? { log_min_duration_statement: 50 } : {};
  const cluster = await startPostgres({ teardown: (fn) => void stops.push(fn) }, { durable: true, settings });
  if (slowLog) stops.push(() => copyFileSync(cluster.logFile, slowLog));
  const url = await cluster.freshDatabase();
  const started = performance.now();
  const err: string[] = [];
  const env = { LOG_LEVEL: 'silent', TMPDIR: context.scratchDir, DATABASE_TLS: 'disable' };
  const code = await runCli(['migrate-data', '--from', path.join(dataDir, 'panguard.db'), '--to', url], { out: () => {}, err: (line) => err.push(line), env, readStdin: async () => '' });
  if (code !== 0) throw new Error(`migrate-data failed:\n${err.join('\n')}`);
  process.stderr.write(`copied into PostgreSQL in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return { DATABASE_URL: url, DATABASE_TLS: 'disable' };
}

export const stallScenario: Scenario = async (context) => {
  const size = sizes(context.flags);
  const dataDir = path.join(context.scratchDir, 'stall-data');
  const samples = await prepare(context, dataDir, size);
  const stops: Array<() => unknown> = [];
  const engine = await engineEnv(context, dataDir, stops);
  const label = engine.DATABASE_URL ? 'stall (postgres)' : 'stall';
  const server = await context.spawnServer(dataDir, { METRICS_ENABLED: 'true', MANAGER_AUTH_TOKEN: MANAGER_TOKEN, ...FLEET_TIMEOUTS, ...engine });
  const web = client(server.managerCa());
  try {
    const login = await fetch(`${server.urls.auth}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
    });
    if (login.status !== 200) throw new Error(`admin login answered ${login.status}: ${await login.text()}`);
    const adminToken = ((await login.json()) as { data: { token: string } }).data.token;
    const headers: Record<Service, Record<string, string>> = {
      threatCloud: { authorization: `Bearer ${context.secrets.tcApiKey}` },
      manager: { authorization: `Bearer ${MANAGER_TOKEN}` },
      auth: { authorization: `Bearer ${adminToken}` },
    };
    const url = (route: Route) => `${server.urls[route.service]}${route.path}`;
    /** A request that failed on the wire is a failed reply (status 0), timed like the others. */
    const send = async (route: Route): Promise<Reply> => {
      const started = performance.now();
      try {
        return await web.get(url(route), headers[route.service]);
      } catch (error) {
        return { status: 0, ms: performance.now() - started, body: JSON.stringify({ error: String(error) }) };
      }
    };
    // Auth routes are probed through the Threat Cloud, everything else through the Auth Server.
    const probeOf = (service: Service): Service => (service === 'auth' ? 'threatCloud' : 'auth');
    // Warm the keep-alive sockets (the Manager's TLS handshake is not the route's cost).
    for (const service of ['threatCloud', 'manager', 'auth'] as const) await web.get(`${server.urls[service]}/health`);
    // The first read empties the histogram of start-up and login; every later window counts,
    // the gaps between routes too (background jobs stall callers as much as routes do).
    await loopDelayMs(web, server.urls.auth);
    const worst = { ms: 0, during: '' };
    let previous = 'start-up';
    const loopSince = async (during: string) => {
      const ms = await loopDelayMs(web, server.urls.auth);
      if (ms > worst.ms) Object.assign(worst, { ms, during });
      return ms;
    };
    const scaleNote = `${size.iocs.toLocaleString('en')} IoCs, ${size.agents.toLocaleString('en')} agents, ${size.events.toLocaleString('en')} events, ${size.users.toLocaleString('en')} users, ${size.audit.toLocaleString('en')} audit entries`;

    const rows: BenchRow[] = [];
    const measured: Array<{ route: Route; ms: number; ok: boolean }> = [];
    for (const route of routes(samples, size)) {
      await loopSince(`the gap after ${previous}`);
      const name = `${SERVICE_NAMES[route.service]} GET ${route.path}`;
      previous = name;
      const probe = startProbe(web, `${server.urls[probeOf(route.service)]}/health`);
      await probe.ready;
      const reply = await send(route);
      const probed = await probe.stop();
      const loop = await loopSince(name);
      const ok = reply.status >= 200 && reply.status < 300;
      measured.push({ route, ms: reply.ms, ok });
      rows.push({
        scenario: `${label}: ${name}`,
        perSecond: reply.ms,
        unit: 'ms',
        probeMs: probed.worst,
        ...(loop > 0 ? { loopMs: loop } : {}),
        target: `<= ${ROUTE_TARGET_MS} ms, ${SERVICE_NAMES[probeOf(route.service)]} /health <= ${PROBE_TARGET_MS} ms`,
        met: ok && reply.ms <= ROUTE_TARGET_MS && probed.worst <= PROBE_TARGET_MS && probed.failures === 0,
        note: [ok ? summary(reply) : `FAILED ${failure(reply)}`, probed.failures ? `${probed.failures} probe failures` : ''].filter(Boolean).join('; '),
      });
    }

    // The slowest Threat Cloud and Manager reads of the pass, sent again all at once.
    const heavy = measured
      .filter((m) => m.ok && m.route.service !== 'auth')
      .sort((a, b) => b.ms - a.ms)
      .slice(0, BURST_SIZE)
      .map((m) => m.route);
    const routesMet = rows.filter((r) => r.met).length;
    await loopSince(`the gap after ${previous}`);
    const probe = startProbe(web, `${server.urls.auth}/health`);
    await probe.ready;
    const started = performance.now();
    const replies = await Promise.all(heavy.map(send));
    const burstMs = performance.now() - started;
    const probed = await probe.stop();
    const burstLoop = await loopSince('the burst');
    const failed = replies.filter((r) => r.status < 200 || r.status >= 300).length;
    rows.push({
      scenario: `${label}: burst of ${heavy.length} heavy reads at once (the slowest of the pass)`,
      perSecond: burstMs,
      unit: 'ms',
      probeMs: probed.worst,
      loopMs: burstLoop,
      target: `auth /health <= ${BURST_TARGET_MS} ms`,
      met: failed === 0 && probed.worst <= BURST_TARGET_MS && probed.failures === 0 && heavy.length === BURST_SIZE,
      note: `time = until the last answered${failed ? `; ${failed} FAILED` : ''}${probed.failures ? `; ${probed.failures} probe failures` : ''}`,
    });
    rows.push({
      scenario: `${label}: worst event-loop delay of the server during the scenario`,
      perSecond: worst.ms,
      unit: 'ms',
      loopMs: worst.ms,
      note: `during ${worst.during || 'no window (no sample)'}; ${routesMet}/${measured.length} routes met their targets; ${scaleNote}`,
    });
    return rows;
  } finally {
    web.close();
    await server.stop();
    for (const stop of stops.reverse()) await stop();
  }
};

export default stallScenario;
