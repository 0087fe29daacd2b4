// The yardstick of every ratio: a bare Fastify app with one constant-JSON route, over HTTP and
// over HTTPS with the same kind of certificate as the Manager; `/with-headers` is the same route
// with the contract's response headers, for the kernel row that tells the two costs apart. Ports
// come from argv; it prints "ready" once both listen.
//
// Plain JavaScript, started by plain `node` like the server's compiled dist/. The tsx version of
// this file counted 67,000 to 102,000 instructions per request in three fresh processes
// (callgrind), plain node 61,000 to 65,000 in four of five. The slowest counts on both sides were
// Node's nextTick slow state (README, "Eleventh session"), which keepTickObjectShape prevents.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { keepTickObjectShape } from '../../dist/shared/tick-shape.js';

// The server keeps Node's tick objects on their fast path (src/shared/tick-shape.ts); so does the
// yardstick, or a yardstick fallen into the slow state would flatter every ratio.
keepTickObjectShape();

const [httpPort, httpsPort, certFile, keyFile] = process.argv.slice(2);

/**
 * The contract's headers on every response (plain HTTP: no HSTS), set the way a Fastify app
 * would: what `/health` costs beyond this route is the kernel's own.
 */
function contractHeaders(request, reply, done) {
  reply.header('x-request-id', randomUUID());
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('content-security-policy', "default-src 'self'");
  done();
}

function routes(app) {
  app.get('/', async () => ({ ok: true, data: { status: 'healthy' } }));
  app.get('/with-headers', { onRequest: contractHeaders }, async () => ({ ok: true, data: { status: 'healthy' } }));
  app.post('/', async () => ({ ok: true, data: { received: true } }));
  return app;
}

const plain = routes(Fastify({ logger: false }));
const secure = routes(Fastify({ logger: false, https: { cert: readFileSync(certFile), key: readFileSync(keyFile) } }));
await plain.listen({ host: '127.0.0.1', port: Number(httpPort) });
await secure.listen({ host: '127.0.0.1', port: Number(httpsPort) });
process.stdout.write('ready\n');
