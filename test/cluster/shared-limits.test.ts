/**
 * Rate limits shared by replicas through Redis (REDIS_URL): three apps of a service, each as a
 * replica would build it, count one budget together; a lost Redis lets requests through
 * (fail open, logged once) and sharing resumes when it is back. Login lockouts are rows in the
 * database and hold across replicas with or without Redis.
 */
import type { InjectOptions } from 'fastify';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { buildAuthApp } from '../../src/auth/app.js';
import { buildManagerApp } from '../../src/manager/app.js';
import { buildThreatCloudApp } from '../../src/threat-cloud/app.js';
import type { App } from '../../src/shared/base-app.js';
import { ManualClock } from '../../src/shared/clock.js';
import { connectRedis } from '../../src/shared/redis.js';
import type { ServiceDeps } from '../../src/shared/service-deps.js';
import { borrowed, replicaStorages } from '../engines.js';
import { authHeader, sqliteDeps, testConfig, testDb, TEST_SECRETS } from '../helper.js';
import { startRedis } from '../redis.js';
import { BOOTSTRAP_KEY, userKeyOn } from '../threat-cloud/fixtures.js';
import { PASSWORD, register, login } from '../auth/fixtures.js';

const REPLICAS = 3;

/** Waits (up to 15 s) for a condition the event loop makes true. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** A Redis client as a replica opens it, with the warnings it logs. */
async function redisClient(t: Test, url: string) {
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
  const redis = await connectRedis(url, logger);
  t.teardown(() => redis.disconnect());
  return { redis, warnings };
}

/** Every test starts from an empty Redis: counts of an earlier test (same address, same minute) must not leak into it. */
async function emptyRedis(t: Test, url: string): Promise<void> {
  const { redis: client } = await redisClient(t, url);
  await client.flushall();
}

/**
 * `REPLICAS` apps of one service over one SQLite file, each with its own Redis connection;
 * `redis: null` builds them without one (each counts alone).
 */
async function replicas(t: Test, build: (deps: ServiceDeps) => Promise<App>, env: Record<string, string>, redisUrl: string | null) {
  const config = testConfig(t, { RATE_LIMIT_SCALE: '1', TC_API_KEYS: BOOTSTRAP_KEY, ...env });
  const db = testDb(t, config);
  const clock = new ManualClock();
  const apps: App[] = [];
  if (redisUrl) await emptyRedis(t, redisUrl);
  for (let i = 0; i < REPLICAS; i++) {
    const client = redisUrl ? (await redisClient(t, redisUrl)).redis : undefined;
    const app = await build({ ...sqliteDeps(db, config, clock), ...(client ? { redis: client } : {}) });
    t.teardown(() => app.close());
    await app.ready();
    apps.push(app);
  }
  return { apps, clock, storage: sqliteDeps(db, config, clock).storage };
}

/** Sends `count` requests round-robin over the apps; their status codes, and the last reply. */
async function spread(apps: App[], count: number, request: InjectOptions) {
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < count; i++) {
    last = await apps[i % apps.length]!.inject(request);
    statuses.push(last.statusCode);
  }
  return { statuses, last: last! };
}

const redis = await startRedis(t);

t.test('Manager: 61 requests spread over three replicas, the 61st is 429 with Retry-After', async (t) => {
  const { apps } = await replicas(t, (deps) => buildManagerApp(deps), {}, redis.url);
  const request = { url: '/api/agents', headers: authHeader(TEST_SECRETS.managerAuthToken) };
  const { statuses, last } = await spread(apps, 61, request);
  t.same(statuses.slice(0, 60), Array(60).fill(200), 'the first 60, whichever replica answered');
  t.equal(last.statusCode, 429);
  t.same(last.json(), { ok: false, error: 'Too many requests. Please try again later.', code: 'RATE_LIMITED' });
  t.ok(Number(last.headers['retry-after']) > 0, 'Retry-After');
  t.equal((await apps[0]!.inject({ url: '/health' })).statusCode, 200, '/health is never limited');
});

t.test('without Redis each replica counts alone: the same 61 requests all pass', async (t) => {
  const { apps } = await replicas(t, (deps) => buildManagerApp(deps), {}, null);
  const { statuses } = await spread(apps, 61, { url: '/api/agents', headers: authHeader(TEST_SECRETS.managerAuthToken) });
  t.same(statuses, Array(61).fill(200));
});

t.test('Threat Cloud: a key\'s tier limit and the anonymous limit are counted across replicas', async (t) => {
  const { apps, storage, clock } = await replicas(t, (deps) => buildThreatCloudApp(deps), { TC_TIER_LIMITS: '{"community":4}' }, redis.url);
  const community = await userKeyOn(storage, clock, 'community');
  const keyed = await spread(apps, 5, { url: '/api/stats', headers: authHeader(community.key) });
  t.same(keyed.statuses, [200, 200, 200, 200, 429], 'four per minute for a community key, over three replicas');
  t.equal(keyed.last.headers['x-ratelimit-limit'], '4');

  const anonymous = await spread(apps, 31, { url: '/api/iocs', headers: authHeader('not-a-key') });
  t.same(anonymous.statuses, [...Array(30).fill(401), 429], '30 unknown keys per minute per address, then 429');
  t.equal((await apps[2]!.inject({ url: '/api/iocs', headers: authHeader(BOOTSTRAP_KEY) })).statusCode, 200, 'a valid key is limited by key, not by address');
});

t.test('a route\'s own limit (login) is one budget across replicas', async (t) => {
  const { apps } = await replicas(t, (deps) => buildAuthApp(deps), { AUTH_RATE_LIMIT: '100000' }, redis.url);
  // Unknown accounts: no lockout row is involved, only the login route's per-address limit.
  const statuses: number[] = [];
  for (let i = 0; i < 40 && !statuses.includes(429); i++) {
    statuses.push((await login(apps[i % REPLICAS]!, `nobody-${i}@example.com`, 'wrong password', {}, '203.0.113.9')).statusCode);
  }
  const limited = statuses.indexOf(429);
  t.ok(limited > 0, `limited after ${limited} attempts spread over the replicas`);
  const alone = await replicas(t, (deps) => buildAuthApp(deps), { AUTH_RATE_LIMIT: '100000' }, null);
  const single: number[] = [];
  for (let i = 0; i <= limited; i++) single.push((await login(alone.apps[0]!, `nobody-${i}@example.com`, 'wrong password', {}, '203.0.113.9')).statusCode);
  t.equal(single.indexOf(429), limited, 'the same limit one replica alone applies');
});

t.test('Redis lost: requests go through uncounted, logged once; back: counted together again', async (t) => {
  const config = testConfig(t, { RATE_LIMIT_SCALE: '1' });
  const db = testDb(t, config);
  const clock = new ManualClock();
  await emptyRedis(t, redis.url);
  const { redis: client, warnings } = await redisClient(t, redis.url);
  const app = await buildManagerApp({ ...sqliteDeps(db, config, clock), redis: client });
  t.teardown(() => app.close());
  const request = { url: '/api/agents', headers: authHeader(TEST_SECRETS.managerAuthToken) };
  t.equal((await app.inject(request)).statusCode, 200);

  await redis.stop();
  // The replica notices the dropped connection on its next turn of I/O.
  await until(() => client.status !== 'ready');
  const during = await spread([app], 70, request);
  t.same(during.statuses, Array(70).fill(200), 'fail open: more than the limit, none refused, none failed');
  t.same(warnings, ["Redis unreachable: rate limits fail open (each request is let through uncounted) until it is back"], `one warning, however many requests: ${JSON.stringify(warnings)}`);

  await redis.start();
  await until(() => client.status === 'ready');
  t.equal(client.status, 'ready', 'reconnected by itself');
  t.same(warnings.at(-1), 'Redis reachable again: rate limits are shared again');
  const after = await spread([app], 61, request);
  t.same(after.statuses, [...Array(60).fill(200), 429], 'counted again from an empty Redis');
});

t.test('PostgreSQL: five failed logins spread over three replicas lock the account for that address', async (t) => {
  const storages = await replicaStorages(REPLICAS);
  for (const storage of storages) t.teardown(() => storage.close());
  const config = testConfig(t, { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '100000' });
  const clock = new ManualClock();
  const apps: App[] = [];
  await emptyRedis(t, redis.url);
  for (const storage of storages) {
    const { redis: client } = await redisClient(t, redis.url);
    const app = await buildAuthApp({ storage: borrowed(storage), config, clock, redis: client });
    t.teardown(() => app.close());
    await app.ready();
    apps.push(app);
  }
  const account = await register(apps[0]!);
  const failures: number[] = [];
  for (let i = 0; i < 5; i++) failures.push((await login(apps[i % REPLICAS]!, account.email, 'wrong password', {}, '198.51.100.40')).statusCode);
  t.same(failures, Array(5).fill(401));
  t.equal((await login(apps[2]!, account.email, PASSWORD, {}, '198.51.100.40')).statusCode, 429, 'the right password on the third replica: locked');
  t.equal((await login(apps[1]!, account.email, PASSWORD, {}, '198.51.100.41')).statusCode, 200, 'the owner from elsewhere still gets in');
});
