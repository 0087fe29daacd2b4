import t, { type Test } from 'tap';
import { Type } from '@sinclair/typebox';
import { pino, type Level } from 'pino';
import { createBaseApp } from '../../src/shared/base-app.js';
import { ManualClock } from '../../src/shared/clock.js';
import { closeDatabase } from '../../src/shared/db/open.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { ok } from '../../src/shared/envelope.js';
import { HEALTH_MEMO_MS, registerHealth } from '../../src/shared/health.js';
import { requestSerializer } from '../../src/shared/logger.js';
import { testConfig, testDb } from '../helper.js';

/** A kernel app with /health over a counter table, and the log lines it writes at `level`. */
async function healthApp(t: Test, level: Level = 'info', { asynchronous = false } = {}) {
  const db = testDb(t, testConfig(t));
  db.exec('CREATE TABLE things (id INTEGER PRIMARY KEY)');
  const count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM things');
  const clock = new ManualClock();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level, serializers: { req: requestSerializer } }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const app = await createBaseApp({ service: 'auth', title: 't', description: 't', version: '0', logger, trustProxy: false, corsAllowedOrigins: [], rateLimit: { max: 1000 } });
  let reads = 0;
  registerHealth(app, {
    storage: sqliteStorageOf(db),
    clock,
    details: Type.Object({ things: Type.Integer() }),
    // A service's counts come synchronously or through the storage port (a promise).
    read: () => {
      reads++;
      const things = count.get()!.n;
      return asynchronous ? new Promise<{ things: number }>((resolve) => setImmediate(() => resolve({ things }))) : { things };
    },
  });
  app.get('/work', async (request) => {
    request.log.warn({ step: 'work' }, 'something worth a warning');
    request.log.info('detail');
    return ok({ done: true });
  });
  t.teardown(() => app.close());
  await app.ready();
  const health = async () => {
    const res = await app.inject({ url: '/health' });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };
  return { app, db, clock, lines, health, reads: () => reads, add: () => db.prepare('INSERT INTO things DEFAULT VALUES').run() };
}

t.test('/health looks at the database at most once a second: counts lag by at most that', async (t) => {
  const { clock, health, reads, add } = await healthApp(t);
  t.same((await health()).body, { ok: true, data: { status: 'healthy', engine: 'sqlite', version: '0.1.0', uptime: 0, things: 0 } });
  add();
  clock.advance(HEALTH_MEMO_MS - 1);
  const memo = await health();
  t.equal(memo.body.data.things, 0, 'within the second: the last look');
  t.equal(memo.body.data.uptime, (HEALTH_MEMO_MS - 1) / 1000, 'uptime is always current');
  t.equal(reads(), 1, 'one read for both probes');
  clock.advance(1);
  t.equal((await health()).body.data.things, 1, 'a second later: looked again');
  t.equal(reads(), 2);
});

t.test('/health over counts read asynchronously: probes arriving during a look share it', async (t) => {
  const { clock, health, reads, add } = await healthApp(t, 'info', { asynchronous: true });
  const first = await Promise.all(Array.from({ length: 8 }, () => health()));
  t.same(first.map((answer) => answer.body.data.things), Array(8).fill(0));
  t.equal(reads(), 1, 'eight probes, one look');
  add();
  clock.advance(HEALTH_MEMO_MS);
  t.same((await health()).body, { ok: true, data: { status: 'healthy', engine: 'sqlite', version: '0.1.0', uptime: 1, things: 1 } });
  t.equal(reads(), 2);
});

t.test('/health answers 503 once the database cannot be read, at the latest a second later', async (t) => {
  const { db, clock, health, lines } = await healthApp(t);
  t.equal((await health()).status, 200);
  closeDatabase(db);
  clock.advance(HEALTH_MEMO_MS);
  const down = await health();
  t.equal(down.status, 503);
  t.match(down.body, { ok: false, error: 'Database unavailable' });
  t.equal(down.headers['x-content-type-options'], 'nosniff', 'the 503 carries the security headers');
  t.same(lines.map((line) => line.msg), ['health: the database cannot be read'], 'logged once, though the probe itself is not');
});

t.test('/health carries the request id and security headers of every response', async (t) => {
  const { health } = await healthApp(t);
  const { headers } = await health();
  t.match(headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.equal(headers['x-content-type-options'], 'nosniff');
  t.equal(headers['x-frame-options'], 'DENY');
  t.equal(headers['referrer-policy'], 'no-referrer');
  t.equal(headers['content-security-policy'], "default-src 'self'");
});

t.test('health probes are not logged per request; other requests are, with their request id', async (t) => {
  const { app, health, lines } = await healthApp(t, 'info');
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

t.test('at warn a request writes only its warnings, still with its request id', async (t) => {
  const { app, lines } = await healthApp(t, 'warn');
  await app.inject({ url: '/work', headers: { 'x-request-id': 'req-2' } });
  t.same(lines.map((line) => [line.msg, line.reqId, line.step]), [['something worth a warning', 'req-2', 'work']]);
});
