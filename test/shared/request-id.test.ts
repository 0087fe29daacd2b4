import t from 'tap';
import type { AddressInfo } from 'node:net';
import { createBaseApp } from '../../src/shared/base-app.js';
import { createUuidSource } from '../../src/shared/request-id.js';
import { rawExchange } from '../raw-http.js';

/**
 * The request id every response carries (contract README: a UUID; an incoming X-Request-Id of
 * 1–64 characters from [A-Za-z0-9._-] is echoed instead, anything else replaced), fresh ones
 * drawn from batches of random UUIDs (src/shared/request-id.ts).
 */

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('fresh ids are random version-4 UUIDs, never repeated across batches', async (t) => {
  const next = createUuidSource();
  const ids = Array.from({ length: 5000 }, () => next());
  const malformed = ids.filter((id) => !UUID_V4.test(id));
  t.same(malformed, [], 'every id has the version 4 and RFC 9562 variant bits');
  t.equal(new Set(ids).size, ids.length, 'five thousand ids (five batches) are all different');
  const other = createUuidSource();
  t.notOk(
    Array.from({ length: 300 }, () => other()).some((id) => ids.includes(id)),
    'a second source does not replay the first one',
  );
  // Every hex digit position varies: a stuck nibble would show as one value in all ids.
  const stuck = [...Array(36).keys()].filter((i) => ![8, 13, 14, 18, 19, 23].includes(i) && new Set(ids.map((id) => id[i])).size < 16);
  t.same(stuck, [], 'each random position takes all sixteen digits');
});

t.test('over a real socket: one echoable id is echoed whatever its case, a repeated or missing one is replaced', async (t) => {
  const app = await createBaseApp({
    service: 'auth',
    title: 'request id test',
    description: 'request id test',
    version: '0.0.0',
    trustProxy: false,
    corsAllowedOrigins: [],
    rateLimit: { max: 1000 },
  });
  app.get('/ping', async () => ({ ok: true }));
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const target = { port: (app.server.address() as AddressInfo).port };
  const idFor = async (headerLines: string[]) => {
    const res = await rawExchange(target, ['GET /ping HTTP/1.1', 'Host: localhost', ...headerLines, 'Connection: close', '', ''].join('\r\n'));
    t.equal(res.status, 200);
    return res.headers['x-request-id'];
  };

  t.equal(await idFor(['X-Request-Id: trace.A_1-b']), 'trace.A_1-b');
  t.equal(await idFor(['X-REQUEST-ID: upper-case-name']), 'upper-case-name', 'header names are case-insensitive');
  const repeated = await idFor(['X-Request-Id: first', 'x-request-id: second']);
  t.match(repeated, UUID_V4, 'a repeated header (Node would join it as "first, second") is replaced');
  t.match(await idFor(['X-Request-Id: not echoable']), UUID_V4);
  t.match(await idFor(['X-Request-Idx: similar-name']), UUID_V4, 'only the exact header name counts');
  const missing = await idFor([]);
  t.match(missing, UUID_V4);
  t.not(missing, repeated);
});
