import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

/**
 * The yardstick of every ratio: a bare Fastify app with one constant-JSON route, over HTTP
 * and over HTTPS with the same kind of certificate as the Manager. Ports come from argv;
 * it prints "ready" once both listen.
 */
const [httpPort, httpsPort, certFile, keyFile] = process.argv.slice(2);

function routes(app: ReturnType<typeof Fastify>) {
  app.get('/', async () => ({ ok: true, data: { status: 'healthy' } }));
  app.post('/', async () => ({ ok: true, data: { received: true } }));
  return app;
}

const plain = routes(Fastify({ logger: false }));
const secure = routes(Fastify({ logger: false, https: { cert: readFileSync(certFile!), key: readFileSync(keyFile!) } }));
await plain.listen({ host: '127.0.0.1', port: Number(httpPort) });
await secure.listen({ host: '127.0.0.1', port: Number(httpsPort) });
process.stdout.write('ready\n');
