import t, { type Test } from 'tap';
import { tempDir } from '../helper.js';
import { startServerProcess, type ServerProcess } from '../process.js';
import { malformedRequests, openRaw, parseResponse, rawExchange, type RawConnection, type RawTarget } from '../raw-http.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HSTS = 'max-age=31536000; includeSubDomains';

async function run(t: Test, env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess(tempDir(t), { LOG_LEVEL: 'error', ...env });
  t.teardown(() => server.stop('SIGKILL'));
  await server.waitHealthy();
  return server;
}

/** The three listeners, each with a route that takes a JSON body; the Manager over TLS. */
function listeners(server: ServerProcess): Array<{ name: string; target: RawTarget; tls: boolean; post: string }> {
  return [
    { name: 'Auth Server', target: { port: server.ports.auth }, tls: false, post: '/api/auth/login' },
    { name: 'Manager (TLS)', target: { port: server.ports.manager, ca: server.managerCa() }, tls: true, post: '/api/agents/register' },
    { name: 'Threat Cloud', target: { port: server.ports.threatCloud }, tls: false, post: '/api/threats' },
  ];
}

t.test('requests the HTTP parser refuses get the envelope, a request id, the security headers, then the connection closes', async (t) => {
  const server = await run(t);
  for (const listener of listeners(server)) {
    for (const bad of malformedRequests(listener.post)) {
      const label = `${listener.name}: ${bad.label}`;
      const res = await rawExchange(listener.target, bad.request);
      t.equal(res.status, bad.status, `${label}: status`);
      t.same(JSON.parse(res.body), { ok: false, error: bad.error, code: bad.status === 431 ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST' }, `${label}: envelope`);
      t.equal(res.headers['content-type'], 'application/json; charset=utf-8', `${label}: content type`);
      t.match(res.headers['x-request-id'], UUID, `${label}: a fresh request id`);
      t.equal(res.headers['x-content-type-options'], 'nosniff', `${label}: nosniff`);
      t.equal(res.headers['x-frame-options'], 'DENY', `${label}: frame options`);
      t.equal(res.headers['content-security-policy'], "default-src 'self'", `${label}: CSP`);
      t.equal(res.headers['referrer-policy'], 'no-referrer', `${label}: referrer policy`);
      t.equal(res.headers['strict-transport-security'], listener.tls ? HSTS : undefined, `${label}: HSTS on TLS listeners only`);
      t.equal(res.headers.connection, 'close', `${label}: Connection: close`);
      t.ok(res.closedByServer, `${label}: the server closed the connection`);
      t.equal(res.raw.indexOf('HTTP/1.1', 1), -1, `${label}: exactly one response on the connection`);
    }
  }
  t.equal(server.child.exitCode, null, 'the process is still running');
  await server.waitHealthy(5000);
});

t.test('idle keep-alive connections are announced as 5 s and closed by the server; slow clients do not hold SIGTERM', async (t) => {
  const server = await run(t);
  const health = await rawExchange({ port: server.ports.threatCloud }, 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n', 15_000);
  t.equal(health.status, 200);
  t.equal(health.headers['keep-alive'], 'timeout=5', 'keep-alive connections last 5 s');
  t.ok(health.closedByServer, 'the idle connection was closed by the server');

  // Headers or a body arriving a little at a time, never finishing.
  const slow: Array<{ connection: RawConnection; drip: string }> = [];
  for (const listener of listeners(server)) {
    for (let i = 0; i < 3; i++) {
      const body = await openRaw(listener.target);
      body.write(`POST ${listener.post} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
      const headers = await openRaw(listener.target);
      headers.write(`POST ${listener.post} HTTP/1.1\r\nHost: localhost\r\n`);
      slow.push({ connection: body, drip: ' ' }, { connection: headers, drip: 'X-Slow: 1\r\n' });
    }
  }
  const drip = setInterval(() => {
    for (const { connection, drip } of slow) if (!connection.socket.destroyed) connection.write(drip);
  }, 500);
  t.teardown(() => {
    clearInterval(drip);
    for (const { connection } of slow) connection.destroy();
  });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const stopped = await server.stop('SIGTERM', 15_000);
  t.equal(stopped.code, 0, 'exit code 0');
  t.equal(stopped.signal, null, 'exited by itself');
  // Before the forced exit at 9 s, which would exit 1 anyway.
  t.ok(stopped.ms < 8_000, `exited ${stopped.ms} ms after SIGTERM (< 8 s) with ${slow.length} slow clients connected`);
  for (const { connection } of slow) t.notOk(parseResponse(connection.received()), 'a slow client got no response: its request never started');
});
