import t, { type Test } from 'tap';
import { Type } from '@sinclair/typebox';
import { pino, type Level } from 'pino';
import { createBaseApp } from '../../src/shared/base-app.js';
import { ManualClock } from '../../src/shared/clock.js';
import { closeDatabase } from '../../src/shared/db/open.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { ok } from '../../src/shared/envelope.js';
import { HEALTH_MEMO_MS, registerHealth } from '../../src/shared/health.js';
import { requestSerializer } from '../../src/shared/logger.js';
import { onBothEngines, selectRows, storageOn, type Engine } from '../engines.js';
import { testConfig, testDb } from '../helper.js';
import { connectPostgres } from '../postgres.js';
import { seedUserIn } from '../seed.js';
import { postgresUrlOf } from '../threat-cloud/fixtures.js';

/**
 * A migrated database of the engine, and how it stops being readable underneath the app: the
 * SQLite connection closed, or the PostgreSQL database taken offline by its administrator (no
 * new connections, the open ones terminated), as a pooled app meets it.
 */
async function databaseOn(t: Test, engine: Engine): Promise<{ storage: Storage; cutOff: () => Promise<void> }> {
  const postgres = await storageOn(engine);
  if (postgres === undefined) {
    const db = testDb(t, testConfig(t));
    return { storage: sqliteStorageOf(db), cutOff: async () => closeDatabase(db) };
  }
  t.teardown(() => postgres.close());
  const url = new URL(await postgresUrlOf(postgres));
  const name = url.pathname.slice(1);
  return {
    storage: postgres,
    async cutOff() {
      url.pathname = '/postgres';
      const admin = await connectPostgres(t, url.toString());
      await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    },
  };
}

/** A kernel app with /health over the count of users, and the log lines it writes at `level`. */
async function healthApp(t: Test, engine: Engine, level: Level = 'info', { delayed = false } = {}) {
  const { storage, cutOff } = await databaseOn(t, engine);
  const clock = new ManualClock();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level, serializers: { req: requestSerializer } }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const app = await createBaseApp({ service: 'auth', title: 't', description: 't', version: '0', logger, trustProxy: false, corsAllowedOrigins: [], rateLimit: { max: 1000 } });
  let reads = 0;
  registerHealth(app, {
    storage,
    clock,
    details: Type.Object({ things: Type.Integer() }),
    // The counts come through the storage port, as the services' do; `delayed` answers a turn
    // later still, so probes arriving during a look can be seen sharing it.
    read: async (q) => {
      reads++;
      const [row] = await selectRows<{ n: number }>(q, 'SELECT count(*) AS n FROM users');
      const things = Number(row!.n);
      return delayed ? new Promise<{ things: number }>((resolve) => setImmediate(() => resolve({ things }))) : { things };
    },
  });
  app.get('/work', async (request) => {
    request.log.warn({ step: 'work' }, 'something worth a warning');
    request.log.info('detail');
    return ok({ done: true });
  });
  app.get('/fail', async () => {
    throw new Error('kaput');
  });
  t.teardown(() => app.close());
  await app.ready();
  const health = async () => {
    const res = await app.inject({ url: '/health' });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };
  let added = 0;
  const add = async () => void (await seedUserIn(storage, { id: `usr_${++added}` }));
  return { app, clock, lines, health, cutOff, reads: () => reads, add, storage };
}

onBothEngines('/health looks at the database at most once a second: counts lag by at most that', async (t, engine) => {
  const { clock, health, reads, add } = await healthApp(t, engine);
  t.same((await health()).body, { ok: true, data: { status: 'healthy', engine, version: '0.1.0', uptime: 0, things: 0 } });
  await add();
  clock.advance(HEALTH_MEMO_MS - 1);
  const memo = await health();
  t.equal(memo.body.data.things, 0, 'within the second: the last look');
  t.equal(memo.body.data.uptime, (HEALTH_MEMO_MS - 1) / 1000, 'uptime is always current');
  t.equal(reads(), 1, 'one read for both probes');
  clock.advance(1);
  t.equal((await health()).body.data.things, 1, 'a second later: looked again');
  t.equal(reads(), 2);
});

onBothEngines('/health over counts read asynchronously: probes arriving during a look share it', async (t, engine) => {
  const { clock, health, reads, add } = await healthApp(t, engine, 'info', { delayed: true });
  const first = await Promise.all(Array.from({ length: 8 }, () => health()));
  t.same(first.map((answer) => answer.body.data.things), Array(8).fill(0));
  t.equal(reads(), 1, 'eight probes, one look');
  await add();
  clock.advance(HEALTH_MEMO_MS);
  t.same((await health()).body, { ok: true, data: { status: 'healthy', engine, version: '0.1.0', uptime: 1, things: 1 } });
  t.equal(reads(), 2);
});

onBothEngines('/health answers 503 once the database cannot be read, at the latest a second later', async (t, engine) => {
  const { clock, health, lines, cutOff } = await healthApp(t, engine);
  t.equal((await health()).status, 200);
  await cutOff();
  clock.advance(HEALTH_MEMO_MS);
  const down = await health();
  t.equal(down.status, 503);
  t.match(down.body, { ok: false, error: 'Database unavailable' });
  t.equal(down.headers['x-content-type-options'], 'nosniff', 'the 503 carries the security headers');
  t.same(lines.map((line) => line.msg), ['health: the database cannot be read'], 'logged once, though the probe itself is not');
});

// PostgreSQL only: SQLite has one connection and no pool for requests to fill.
t.test('/health answers while requests hold every pooled PostgreSQL connection (postgres)', async (t) => {
  const { health, storage } = await healthApp(t, 'postgres');
  let open = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  // A burst of slow requests, as the stall benchmark's heaviest reads at a million rows: the pool
  // (10 connections here) is full and more work is queued behind it.
  const held = Array.from({ length: 12 }, () => storage.transaction({ durable: false }, async (tx) => {
    await selectRows(tx, 'SELECT 1 AS n');
    await gate;
  }));
  while (storage.poolUse!().waiting === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const answered = await Promise.race([health(), new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 5000))]);
  open();
  await Promise.all(held);
  t.not(answered, 'waited', 'the probe did not queue behind the pool');
  if (answered !== 'waited') t.match(answered, { status: 200, body: { ok: true, data: { status: 'healthy', engine: 'postgres' } } });
});

onBothEngines('/health carries the request id and security headers of every response', async (t, engine) => {
  const { health } = await healthApp(t, engine);
  const { headers } = await health();
  t.match(headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.equal(headers['x-content-type-options'], 'nosniff');
  t.equal(headers['x-frame-options'], 'DENY');
  t.equal(headers['referrer-policy'], 'no-referrer');
  t.equal(headers['content-security-policy'], "default-src 'self'");
});

onBothEngines('health probes are not logged per request; other requests are, with their request id', async (t, engine) => {
  const { app, health, lines } = await healthApp(t, engine, 'info');
  await health();
  await health();
  t.same(lines, [], 'no line for a probe');
  await app.inject({ url: '/work', headers: { 'x-request-id': 'req-1' } });
  const messages = lines.map((line) => [line.msg, line.reqId]);
  t.same(messages, [
    ['incoming request', 'req-1'],
    ['something worth a warning', 'req-1'],
    ['detail', 'req-1'],
    ['request completed', 'req-1'],
  ]);
});

onBothEngines('unknown paths and failing routes log arrival and completion with the status; HEAD probes are not logged', async (t, engine) => {
  const { app, lines } = await healthApp(t, engine, 'info');
  t.equal((await app.inject({ method: 'HEAD', url: '/health' })).statusCode, 200);
  t.same(lines, [], 'no line for a HEAD probe');
  t.equal((await app.inject({ url: '/nowhere?token=secret', headers: { 'x-request-id': 'req-3' } })).statusCode, 404);
  t.equal((await app.inject({ url: '/fail', headers: { 'x-request-id': 'req-4' } })).statusCode, 500);
  const requestLines = lines.filter((line) => line.msg === 'incoming request' || line.msg === 'request completed');
  t.match(requestLines, [
    { msg: 'incoming request', reqId: 'req-3', req: { method: 'GET', path: '/nowhere' } },
    { msg: 'request completed', reqId: 'req-3', res: { statusCode: 404 } },
    { msg: 'incoming request', reqId: 'req-4', req: { method: 'GET', path: '/fail' } },
    { msg: 'request completed', reqId: 'req-4', res: { statusCode: 500 } },
  ]);
  t.equal(requestLines.length, 4);
  t.notOk(JSON.stringify(lines).includes('secret'), 'the query string is not logged');
  t.ok(lines.some((line) => line.reqId === 'req-4' && line.level === 50), 'the failure is logged as an error with its request id');
});

onBothEngines('at warn a request writes only its warnings, still with its request id', async (t, engine) => {
  const { app, lines } = await healthApp(t, engine, 'warn');
  await app.inject({ url: '/work', headers: { 'x-request-id': 'req-2' } });
  t.same(lines.map((line) => [line.msg, line.reqId, line.step]), [['something worth a warning', 'req-2', 'work']]);
  lines.length = 0;
  t.equal((await app.inject({ url: '/fail', headers: { 'x-request-id': 'req-5' } })).statusCode, 500);
  t.equal((await app.inject({ url: '/nowhere', headers: { 'x-request-id': 'req-6' } })).statusCode, 404);
  t.match(lines, [{ reqId: 'req-5', level: 50 }], 'a failure is still logged as an error, an unknown path not at all');
  t.equal(lines.length, 1);
});
