import t, { type Test } from 'tap';
import { Type } from '@sinclair/typebox';
import { createBaseApp, type App } from '../../src/shared/base-app.js';
import { createdReplies, ok, replies, StringEnum } from '../../src/shared/envelope.js';
import { AppError } from '../../src/shared/errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function kernelApp(t: Test, overrides: { cors?: string[]; max?: number; metrics?: { token?: string } } = {}): Promise<App> {
  const app = await createBaseApp({
    service: 'auth',
    title: 'kernel test',
    description: 'kernel test',
    version: '0.0.0',
    trustProxy: false,
    corsAllowedOrigins: overrides.cors ?? [],
    rateLimit: { max: overrides.max ?? 1000 },
    ...(overrides.metrics ? { metrics: { enabled: true, service: 'auth', token: overrides.metrics.token } } : {}),
  });
  const Item = Type.Object({ name: Type.String({ minLength: 1, maxLength: 10 }), code: Type.String({ pattern: '^[0-9]{6}$' }), level: Type.Optional(StringEnum(['low', 'high'])), count: Type.Optional(Type.Integer({ minimum: 1 })) });
  app.post(
    '/items',
    { schema: { body: Type.Object({ items: Type.Array(Item, { minItems: 1 }) }), response: createdReplies(Type.Object({ received: Type.Integer() })) } },
    async (request, reply) => reply.code(201).send(ok({ received: request.body.items.length })),
  );
  app.get('/query', { schema: { querystring: Type.Object({ n: Type.Integer({ minimum: 1, maximum: 5 }) }) } }, async (request) => ok({ n: request.query.n }));
  app.get('/things/:id', async (request) => ok({ id: (request.params as { id: string }).id }));
  app.get('/profile', { schema: { response: replies(Type.Object({ name: Type.String() })) } }, async () =>
    ok({ name: 'alice', passwordHash: 'scrypt$secret' } as { name: string }),
  );
  app.get('/boom', async () => {
    throw new Error('secret detail: SELECT * FROM users');
  });
  app.get('/teapot', async () => {
    throw new AppError(409, 'Already there', 'CONFLICT_X');
  });
  t.teardown(() => app.close());
  await app.ready();
  return app;
}

t.test('success responses are enveloped and carry request id and security headers', async (t) => {
  const app = await kernelApp(t);
  const res = await app.inject({ method: 'POST', url: '/items', payload: { items: [{ name: 'a', code: '123456' }] } });
  t.equal(res.statusCode, 201);
  t.same(res.json(), { ok: true, data: { received: 1 } });
  t.match(res.headers['x-request-id'], UUID);
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.equal(res.headers['x-frame-options'], 'DENY');
  t.equal(res.headers['content-security-policy'], "default-src 'self'");
  t.equal(res.headers['referrer-policy'], 'no-referrer');
  t.notOk(res.headers['strict-transport-security'], 'no HSTS on plain HTTP');
});

t.test('responses are written from the route schema: a property it does not name never leaves, first time or later', async (t) => {
  const app = await kernelApp(t);
  for (const attempt of ['first', 'second']) {
    const res = await app.inject({ method: 'GET', url: '/profile' });
    t.equal(res.statusCode, 200);
    t.equal(res.body, '{"ok":true,"data":{"name":"alice"}}', `${attempt} response`);
  }
});

t.test('a safe incoming X-Request-Id is echoed, anything else replaced', async (t) => {
  const app = await kernelApp(t);
  const echoed = await app.inject({ url: '/query?n=1', headers: { 'x-request-id': 'abc.DEF_12-3' } });
  t.equal(echoed.headers['x-request-id'], 'abc.DEF_12-3');
  for (const bad of ['has space', 'x'.repeat(65), '<script>', 'a;b']) {
    const res = await app.inject({ url: '/query?n=1', headers: { 'x-request-id': bad } });
    t.match(res.headers['x-request-id'], UUID, `replaced ${JSON.stringify(bad)}`);
  }
});

t.test('validation errors are 400 naming the field, bodies are not coerced', async (t) => {
  const app = await kernelApp(t);
  const cases: Array<[unknown, string]> = [
    [{ items: [{ name: 'a', code: 123456 }] }, 'items[0].code must be of type string'],
    [{ items: [{ name: 'a', code: ['123456'] }] }, 'items[0].code must be of type string'],
    [{ items: [{ name: 'a', code: '12345' }] }, 'items[0].code must match pattern "^[0-9]{6}$"'],
    [{ items: [{ name: 'a', code: '123456' }, { name: 'b', code: '123456', level: 'mid' }] }, 'items[1].level must be one of low, high'],
    [{ items: [{ name: 'a', code: '123456', count: '5' }] }, 'items[0].count must be of type integer'],
    [{ items: [{ code: '123456' }] }, 'items[0].name is required'],
    [{ items: [] }, 'items must NOT have fewer than 1 items'],
    [{}, 'items is required'],
  ];
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/items', payload: payload as object });
    t.equal(res.statusCode, 400, JSON.stringify(payload));
    t.same(res.json(), { ok: false, error: message, code: 'VALIDATION_ERROR' });
  }
});

t.test('query strings are still coerced and range-checked', async (t) => {
  const app = await kernelApp(t);
  t.same((await app.inject({ url: '/query?n=3' })).json(), { ok: true, data: { n: 3 } });
  const res = await app.inject({ url: '/query?n=9' });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'n must be <= 5');
});

t.test('malformed JSON, wrong content type, empty and oversized bodies', async (t) => {
  const app = await kernelApp(t);
  const malformed = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: '{"items": [' });
  t.equal(malformed.statusCode, 400);
  t.same(malformed.json(), { ok: false, error: 'Malformed JSON body', code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
  const text = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'text/plain' }, payload: 'items' });
  t.equal(text.statusCode, 415);
  t.equal(text.json().error, 'Content-Type must be application/json');
  const empty = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: '' });
  t.equal(empty.statusCode, 400);
  t.equal(empty.json().ok, false);
  const huge = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ items: [{ name: 'x'.repeat(1024 * 1024), code: '123456' }] }) });
  t.equal(huge.statusCode, 413);
  t.same(huge.json(), { ok: false, error: 'Request body is too large', code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
});

t.test('unknown routes are 404 in the envelope, with or without credentials', async (t) => {
  const app = await kernelApp(t);
  for (const headers of [{}, { authorization: 'Bearer whatever' }]) {
    const res = await app.inject({ url: '/nope', headers });
    t.equal(res.statusCode, 404);
    t.same(res.json(), { ok: false, error: 'Not found', code: 'NOT_FOUND' });
  }
});

t.test('router errors (bad URL encoding, over-long parameter) are enveloped with the usual headers', async (t) => {
  const app = await kernelApp(t);
  const badUrl = await app.inject({ url: '/things/%E0%A4%A' });
  t.equal(badUrl.statusCode, 400);
  t.same(badUrl.json(), { ok: false, error: 'Malformed URL', code: 'FST_ERR_BAD_URL' });
  t.match(badUrl.headers['x-request-id'], UUID);
  t.equal(badUrl.headers['x-content-type-options'], 'nosniff');
  const long = await app.inject({ url: `/things/${'x'.repeat(300)}` });
  t.equal(long.statusCode, 414);
  t.same(long.json(), { ok: false, error: 'URL parameter is too long', code: 'FST_ERR_MAX_PARAM_LENGTH' });
  t.notMatch(long.body, 'xxxxxxxx', 'the offending path is not echoed');
});

t.test('unexpected errors are 500 without detail; coded errors keep their status', async (t) => {
  const app = await kernelApp(t);
  const res = await app.inject({ url: '/boom' });
  t.equal(res.statusCode, 500);
  t.same(res.json(), { ok: false, error: 'Internal server error', code: 'INTERNAL_ERROR' });
  t.notMatch(res.body, /SELECT|secret detail|at /);
  const conflict = await app.inject({ url: '/teapot' });
  t.equal(conflict.statusCode, 409);
  t.same(conflict.json(), { ok: false, error: 'Already there', code: 'CONFLICT_X' });
});

t.test('rate limit answers 429 with the envelope and headers; health is exempt', async (t) => {
  const app = await kernelApp(t, { max: 3 });
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/query?n=1' })).statusCode, 200);
  const limited = await app.inject({ url: '/query?n=1' });
  t.equal(limited.statusCode, 429);
  t.same(limited.json(), { ok: false, error: 'Too many requests. Please try again later.', code: 'RATE_LIMITED' });
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After in seconds');
  t.equal(limited.headers['x-ratelimit-limit'], '3');
  t.equal(limited.headers['x-ratelimit-remaining'], '0');
  t.ok(limited.headers['x-ratelimit-reset'] !== undefined);
  const notFound = await app.inject({ url: '/nope' });
  t.equal(notFound.statusCode, 429, 'the not-found handler is limited too, so route probing is throttled');
  const docs = await app.inject({ url: '/docs/json' });
  t.equal(docs.statusCode, 200, '/docs/json is never limited');
});

t.test('CORS: preflight answered with the contract headers, also on errors', async (t) => {
  const app = await kernelApp(t, { cors: ['https://app.example.com'], max: 1 });
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/items',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
  t.equal(preflight.statusCode, 204);
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com');
  t.equal(preflight.headers['access-control-allow-methods'], 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
  t.equal(preflight.headers['access-control-allow-headers'], 'Authorization, Content-Type, X-Request-Id');
  t.equal(preflight.headers['access-control-max-age'], '86400');
  t.equal((await app.inject({ url: '/query?n=1', headers: { origin: 'https://app.example.com' } })).statusCode, 200);
  const limited = await app.inject({ url: '/query?n=1', headers: { origin: 'https://app.example.com' } });
  t.equal(limited.statusCode, 429);
  t.equal(limited.headers['access-control-allow-origin'], 'https://app.example.com', 'CORS headers on 429');
  const foreign = await app.inject({ url: '/health', headers: { origin: 'https://evil.example' } });
  t.notOk(foreign.headers['access-control-allow-origin'], 'an origin not listed gets no CORS grant');
});

t.test('the OpenAPI document is generated from the route schemas', async (t) => {
  const app = await kernelApp(t);
  const doc = (await app.inject({ url: '/docs/json' })).json();
  t.equal(doc.openapi, '3.0.3');
  t.ok(doc.paths['/items'].post.requestBody, 'body schema documented');
  t.ok(doc.paths['/items'].post.responses['201'], 'response schema documented');
  const ui = await app.inject({ url: '/docs/' });
  t.equal(ui.statusCode, 200);
  t.match(ui.headers['content-type'], /text\/html/);
});

t.test('/metrics is off by default', async (t) => {
  const app = await kernelApp(t);
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 404);
});

/** The value of the sample `name{…}` whose labels include all of `labels`, whatever their order. */
function sample(body: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of body.split('\n')) {
    const match = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(match[3]);
  }
  return undefined;
}

t.test('/metrics counts requests by route pattern and status, behind its token', async (t) => {
  const token = 'metrics-token-0123456789abcdefghijkl';
  const app = await kernelApp(t, { max: 4, metrics: { token } });
  await app.inject({ url: '/things/usr_secret_id_1' });
  await app.inject({ url: '/things/usr_secret_id_2' });
  await app.inject({ url: '/no/such/route/abc123' });
  await app.inject({ url: '/boom' });
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ url: '/query?n=1' })).statusCode, 429, 'past the limit of 4 per minute');
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 401, 'token required');
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
  const res = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/plain/);
  const requests = (route: string, status: string) => sample(res.body, 'panguard_http_requests_total', { service: 'auth', method: 'GET', route, status_code: status });
  t.equal(requests('/things/:id', '200'), 2);
  t.equal(requests('not_found', '404'), 1);
  t.equal(requests('/boom', '500'), 1);
  t.equal(requests('/query', '429'), 2);
  t.equal(sample(res.body, 'panguard_http_request_duration_seconds_count', { route: '/things/:id', status_code: '200' }), 2);
  t.equal(sample(res.body, 'panguard_rate_limited_total', { route: '/query' }), 2, 'rate-limit rejections counted');
  t.notMatch(res.body, /usr_secret_id|abc123/, 'no raw ids or URLs in labels');
});
