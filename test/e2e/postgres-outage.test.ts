/**
 * The real process (`node dist/main.js`) on PostgreSQL when the database goes away while it
 * runs: every `/health` says 503 "Database unavailable", a write fails with 503 and Retry-After
 * that gives away neither a stack trace nor the connection string, the process stays up, and
 * once the same cluster is back (same data folder, same port) it serves again by itself.
 */
import t, { type Test } from 'tap';
import { tempDir } from '../helper.js';
import { startPostgres } from '../postgres.js';
import { request, startServerProcess, type HttpResult } from '../process.js';

/** Sent in the URL, never asked for (trust authentication): it must not appear in any answer. */
const PASSWORD = 'outage-secret-Passw0rd';

const registration = (email: string) => ({ method: 'POST', body: JSON.stringify({ email, name: 'Outage Test', password: 'Outage-Test-Passphrase-42' }) });

/** What no answer may show: the connection string, its password, a stack trace. */
function assertNothingLeaks(t: Test, res: HttpResult, url: string, what: string) {
  t.notMatch(res.body, PASSWORD, `${what}: no password`);
  t.notMatch(res.body, url.replace(`:${PASSWORD}`, ''), `${what}: no connection string`);
  t.notMatch(res.body, /postgres(ql)?:\/\//, `${what}: no database URL`);
  t.notMatch(res.body, /\n\s+at |ECONNREFUSED|\.ts:\d+|\.js:\d+/, `${what}: no stack trace or driver error`);
}

t.test('a PostgreSQL outage: 503 from every /health and on writes, the process survives and recovers', async (t) => {
  const cluster = await startPostgres(t);
  const url = (await cluster.freshDatabase()).replace('postgres@', `postgres:${PASSWORD}@`);
  const server = await startServerProcess(tempDir(t), { DATABASE_URL: url, DATABASE_TLS: 'disable', RATE_LIMIT_SCALE: '10' });
  t.teardown(() => server.stop('SIGKILL'));
  await server.waitHealthy();
  const { auth, manager, threatCloud } = server.urls;
  const ca = server.managerCa();
  const healths = () =>
    Promise.all([request(`${auth}/health`, { timeoutMs: 10_000 }), request(`${manager}/health`, { ca, timeoutMs: 10_000 }), request(`${threatCloud}/health`, { timeoutMs: 10_000 })]);

  const before = await request(`${auth}/api/auth/register`, registration('before@example.com'));
  t.equal(before.status, 201, before.body);

  await cluster.stop();
  // The health answer is remembered for a second: past that, every probe asks the database again.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  for (const res of await healths()) {
    t.equal(res.status, 503, res.body);
    t.match(JSON.parse(res.body), { ok: false, error: 'Database unavailable' }, 'the envelope says why');
    assertNothingLeaks(t, res, url, 'health');
  }

  const write = await request(`${auth}/api/auth/register`, { ...registration('during@example.com'), timeoutMs: 10_000 });
  // As on SQLite when the file cannot be written: the client may retry, so 503 with Retry-After.
  t.equal(write.status, 503, write.body);
  t.equal(write.headers['retry-after'], '30');
  t.match(JSON.parse(write.body), { ok: false, error: 'Database unavailable', code: 'DATABASE_UNAVAILABLE' });
  assertNothingLeaks(t, write, url, 'write');
  t.equal(server.child.exitCode, null, 'the process is still running');
  t.equal(server.child.signalCode, null);

  await cluster.start();
  // Recovery is the pool's business (new connections on the next request): no restart needed.
  let recovered: HttpResult[] = [];
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    recovered = await healths();
    if (recovered.every((res) => res.status === 200)) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  t.same(recovered.map((res) => res.status), [200, 200, 200], 'every /health is 200 again once the database is back');
  const after = await request(`${auth}/api/auth/register`, registration('after@example.com'));
  t.equal(after.status, 201, after.body);
  t.notMatch(server.output(), PASSWORD, 'the password is not in the logs either');
  // The pool's idle connections were cut by the shutdown: said in one line, without the client
  // node-postgres attaches to the error (its settings, statements and the server's cancel key).
  t.match(server.output(), 'an idle PostgreSQL connection failed');
  t.notMatch(server.output(), /secretKey|processID|connectionParameters/, 'no connection internals in the log');
});
