import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Type } from '@sinclair/typebox';
import { buildManagerApp } from '../../src/manager/app.js';
import { createBaseApp, type App, type TlsMaterial } from '../../src/shared/base-app.js';
import { ensureSelfSignedCertificate } from '../../src/shared/certificate.js';
import { applyConnectionLimits, type ConnectionLimits } from '../../src/shared/connection-limits.js';
import { ok, replies } from '../../src/shared/envelope.js';
import { buildTestApp, tempDir } from '../helper.js';
import { OPERATOR, register } from '../manager/fixtures.js';
import { openRaw, parseResponse, rawExchange, type RawConnection, type RawTarget } from '../raw-http.js';

/** Short limits so the test runs in seconds; the check interval is what makes them exact. */
const SHORT: ConnectionLimits = { headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 1000, checkIntervalMs: 200 };
/** A loaded 2-core machine may run timers late; a cut this long after its limit is a failure. */
const SLACK_MS = 2500;
const TIMEOUT_ENVELOPE = { ok: false, error: 'Request timeout', code: 'REQUEST_TIMEOUT' };

const serverOf = (app: App) => app.server as unknown as { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number };

async function kernelApp(t: Test, limits?: Partial<ConnectionLimits>, https?: TlsMaterial): Promise<App> {
  const app = await createBaseApp({
    service: 'auth',
    title: 'limits',
    description: 'limits',
    version: '0.0.0',
    trustProxy: false,
    corsAllowedOrigins: [],
    rateLimit: { max: 100_000 },
    ...(limits ? { connectionLimits: limits } : {}),
    ...(https ? { https } : {}),
  });
  const slow = async () => {
    await new Promise((resolve) => setTimeout(resolve, 600));
    return ok({ waited: 600 });
  };
  const response = replies(Type.Object({ waited: Type.Integer() }));
  app.get('/slow', { schema: { response } }, slow);
  app.post('/slow', { schema: { body: Type.Unknown(), response } }, slow);
  // Longer than the second a close gives requests still arriving.
  app.get('/slower', { schema: { response } }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return ok({ waited: 1500 });
  });
  t.teardown(() => app.close());
  return app;
}

/** A Manager over TLS on a free port with the given limits, and an SSE client reading its stream. */
async function managerOverTls(t: Test, limits: ConnectionLimits) {
  const certs = tempDir(t);
  const material = await ensureSelfSignedCertificate(path.join(certs, 'manager.crt'), path.join(certs, 'manager.key'));
  const { app } = await buildTestApp(t, (deps) => buildManagerApp({ ...deps, https: { cert: material.cert, key: material.key } }, { keepaliveMs: 250 }), { env: { MANAGER_RATE_LIMIT: '100000' } });
  applyConnectionLimits(app.server, limits);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const target: RawTarget = { port: (app.server.address() as AddressInfo).port, ca: material.cert };
  return { app, target };
}

/** An SSE client: counts named events and keepalive comments, and says when its stream ended. */
function sseClient(t: Test, target: RawTarget) {
  const seen = { events: [] as string[], comments: 0, ended: false };
  let buffer = '';
  const req = https.request({ host: '127.0.0.1', port: target.port, path: '/api/events/stream', headers: { ...OPERATOR, accept: 'text/event-stream' }, ca: target.ca, servername: 'localhost', agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith(':')) seen.comments++;
        const name = /^event: (.+)$/m.exec(block)?.[1];
        if (name) seen.events.push(name);
      }
    });
    res.on('close', () => (seen.ended = true));
  });
  req.on('error', () => (seen.ended = true));
  req.end();
  t.teardown(() => req.destroy());
  return seen;
}

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Opens a connection that writes `first` and then `drip` every 200 ms, never finishing its request. */
async function slowClient(t: Test, target: RawTarget, first: string, drip: string) {
  const connection: RawConnection = await openRaw(target);
  const openedAt = Date.now();
  if (first) connection.write(first);
  const timer = setInterval(() => {
    if (drip && !connection.socket.destroyed && connection.socket.writable) connection.write(drip);
  }, 200);
  t.teardown(() => {
    clearInterval(timer);
    connection.destroy();
  });
  const closed = connection.closed.then((end) => {
    clearInterval(timer);
    return { afterMs: end.at - openedAt, response: parseResponse(connection.received()) };
  });
  return { connection, closed };
}

t.test('the contract limits are the defaults: headers 10 s, request 30 s, keep-alive 5 s, checked every second', async (t) => {
  const kernel = serverOf(await kernelApp(t));
  t.same(
    { headers: kernel.headersTimeout, request: kernel.requestTimeout, keepAlive: kernel.keepAliveTimeout, interval: kernel.connectionsCheckingInterval },
    { headers: 10_000, request: 30_000, keepAlive: 5_000, interval: 1_000 },
  );
  const { app } = await buildTestApp(t, (deps) => buildManagerApp(deps));
  t.equal(serverOf(app).requestTimeout, 30_000, 'every service gets them from the kernel');
  const shortened = serverOf(await kernelApp(t, { headersTimeoutMs: 1500, requestTimeoutMs: 4000 }));
  t.same([shortened.headersTimeout, shortened.requestTimeout, shortened.keepAliveTimeout], [1500, 4000, 5000], 'the base app options shorten them');
});

t.test('slow headers and slow bodies are cut with 408 at their limits while an SSE stream on the same Manager carries on', async (t) => {
  const { app, target } = await managerOverTls(t, SHORT);
  const stream = sseClient(t, target);
  await until(() => stream.events.includes('connected'), 5000, 'the SSE connected frame');

  const silent = await slowClient(t, target, '', '');
  const headers = await slowClient(t, target, 'POST /api/agents/register HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: 1\r\n');
  const body = await slowClient(t, target, 'POST /api/agents/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{', ' ');
  const [silentEnd, headersEnd, bodyEnd] = await Promise.all([silent.closed, headers.closed, body.closed]);

  for (const [label, end, limit] of [
    ['a connection that sends nothing', silentEnd, SHORT.headersTimeoutMs],
    ['headers arriving a line at a time', headersEnd, SHORT.headersTimeoutMs],
    ['a body arriving a byte at a time', bodyEnd, SHORT.requestTimeoutMs],
  ] as const) {
    t.equal(end.response?.status, 408, `${label}: 408`);
    t.same(JSON.parse(end.response?.body ?? '{}'), TIMEOUT_ENVELOPE, `${label}: the envelope`);
    t.equal(end.response?.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains', `${label}: HSTS`);
    t.match(end.response?.headers['x-request-id'], /^[0-9a-f-]{36}$/, `${label}: request id`);
    t.ok(end.afterMs >= limit - 100 && end.afterMs <= limit + SHORT.checkIntervalMs + SLACK_MS, `${label}: closed after ${end.afterMs} ms (limit ${limit} ms)`);
  }

  // The stream outlived both limits and still delivers.
  const commentsBefore = stream.comments;
  await register(app, { hostname: 'after-the-cuts' });
  await until(() => stream.events.includes('agent_online'), 5000, 'an event after the cuts');
  await until(() => stream.comments > commentsBefore, 5000, 'a keepalive after the cuts');
  t.notOk(stream.ended, 'the SSE stream was not cut by the request limits');
});

t.test('an idle keep-alive connection is closed after the keep-alive limit', async (t) => {
  const { target } = await managerOverTls(t, SHORT);
  const started = Date.now();
  const res = await rawExchange(target, 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n', 10_000);
  const afterMs = Date.now() - started;
  t.equal(res.status, 200);
  t.equal(res.headers['keep-alive'], 'timeout=1');
  t.ok(res.closedByServer, 'closed by the server');
  // Node closes the socket 1 s after the advertised timeout, so a client reusing it at the
  // last moment does not race the close.
  const closesAt = SHORT.keepAliveTimeoutMs + 1000;
  t.ok(afterMs >= SHORT.keepAliveTimeoutMs && afterMs <= closesAt + SLACK_MS, `closed after ${afterMs} ms (advertised ${SHORT.keepAliveTimeoutMs} ms, closed at ${closesAt} ms)`);
});

t.test('closing waits for fully received requests only: slow clients are dropped, a request in its handler finishes', async (t) => {
  const app = await kernelApp(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const target: RawTarget = { port: (app.server.address() as AddressInfo).port };
  const slowHeaders = await slowClient(t, target, 'GET /slow HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: 1\r\n');
  const slowBody = await slowClient(t, target, 'POST /slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{', ' ');
  const inHandler = rawExchange(target, 'GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = Date.now();
  await app.close();
  const closeMs = Date.now() - started;
  const answered = await inHandler;
  t.equal(answered.status, 200, 'the request in its handler was answered');
  t.same(JSON.parse(answered.body), { ok: true, data: { waited: 600 } });
  for (const [label, client] of [['slow headers', slowHeaders], ['slow body', slowBody]] as const) {
    const end = await client.closed;
    t.equal(end.response, null, `${label}: dropped without a response (its request never started)`);
  }
  t.ok(closeMs < 5000, `close took ${closeMs} ms, not the 10 s / 30 s limits`);
});

t.test('over TLS too: a close drops half-sent requests and unfinished handshakes, and finishes the request in its handler', async (t) => {
  const certs = tempDir(t);
  const material = await ensureSelfSignedCertificate(path.join(certs, 'k.crt'), path.join(certs, 'k.key'));
  const app = await kernelApp(t, undefined, { cert: material.cert, key: material.key });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  const target: RawTarget = { port, ca: material.cert };
  const slowHeaders = await slowClient(t, target, 'GET /slow HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: 1\r\n');
  const slowBody = await slowClient(t, target, 'POST /slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{', ' ');
  // A TCP connection that never starts its TLS handshake.
  const noHandshake = await slowClient(t, { port }, '', '');
  const inHandler = rawExchange(target, 'GET /slower HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await app.close();
  const answered = await inHandler;
  t.equal(answered.status, 200, 'the request in its handler was answered, though it took longer than the grace');
  t.same(JSON.parse(answered.body), { ok: true, data: { waited: 1500 } });
  t.ok(answered.closedByServer, 'and its keep-alive connection closed after the answer');
  for (const [label, client] of [['slow headers', slowHeaders], ['slow body', slowBody], ['no handshake', noHandshake]] as const) {
    t.equal((await client.closed).response, null, `${label}: dropped without a response`);
  }
});
