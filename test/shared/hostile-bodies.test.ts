import t, { type Test } from 'tap';
import { Type } from '@sinclair/typebox';
import type { InjectOptions } from 'fastify';
import { createBaseApp, type App } from '../../src/shared/base-app.js';
import { createdReplies, ok } from '../../src/shared/envelope.js';
import { buildAuth, uniqueEmail } from '../auth/fixtures.js';
import { event, buildManager, OPERATOR, register } from '../manager/fixtures.js';
import { buildThreatCloud, threat } from '../threat-cloud/fixtures.js';
import { countRows } from '../helper.js';

const TOO_DEEP = { ok: false, error: 'Body is nested too deeply', code: 'BODY_TOO_DEEP' };
const MAX_DEPTH = 32;
const PLACEHOLDER = '"@@deep@@"';

/** `[[…]]` nested `levels` times. */
const arrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

/** How many containers deep `text` goes (the test payloads hold no brackets inside strings). */
function depthOf(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (const c of text) {
    if (c === '[' || c === '{') deepest = Math.max(deepest, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return deepest;
}

/**
 * `payload` as JSON text with its `@@deep@@` value replaced by nested arrays, so that the
 * whole body is exactly `total` levels deep.
 */
function bodyOfDepth(payload: unknown, total: number): string {
  const text = JSON.stringify(payload);
  if (!text.includes(PLACEHOLDER)) throw new Error('payload has no placeholder');
  const around = depthOf(text.replace(PLACEHOLDER, '[]')) - 1;
  const body = text.replace(PLACEHOLDER, arrays(total - around));
  if (depthOf(body) !== total) throw new Error(`built depth ${depthOf(body)}, wanted ${total}`);
  return body;
}

function withDeep(payload: unknown, levels: number): string {
  return JSON.stringify(payload).replace(PLACEHOLDER, arrays(levels));
}

const json = (url: string, payload: string, headers: Record<string, string> = {}): InjectOptions => ({
  method: 'POST',
  url,
  headers: { ...headers, 'content-type': 'application/json' },
  payload,
});

async function kernelApp(t: Test): Promise<App> {
  const app = await createBaseApp({ service: 'auth', title: 'hostile', description: 'hostile', version: '0.0.0', trustProxy: false, corsAllowedOrigins: [], rateLimit: { max: 100_000 } });
  const Body = Type.Object({ data: Type.Optional(Type.Unknown()) });
  const Reply = createdReplies(Type.Object({ keys: Type.Integer() }));
  app.post('/echo', { schema: { body: Body, response: Reply } }, async (request, reply) => reply.code(201).send(ok({ keys: Object.keys(request.body).length })));
  app.post('/big', { bodyLimit: 4 * 1024 * 1024, schema: { body: Body, response: Reply } }, async (request, reply) => reply.code(201).send(ok({ keys: Object.keys(request.body).length })));
  t.teardown(() => app.close());
  await app.ready();
  return app;
}

t.test('the kernel refuses JSON nested deeper than 32 levels with 400 and the envelope', async (t) => {
  const app = await kernelApp(t);
  for (const [label, payload] of [
    ['100,000 nested [', arrays(100_000)],
    ['100,000 nested [ inside a field', withDeep({ data: '@@deep@@' }, 100_000)],
    ['100,000 unclosed [', '['.repeat(100_000)],
    ['100,000 nested objects', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
    ['33 levels', bodyOfDepth({ data: '@@deep@@' }, MAX_DEPTH + 1)],
    ['33 levels after a string of closing brackets', `{"s":${JSON.stringify(']]]]]}}}}}"\\')},"data":${arrays(MAX_DEPTH)}}`],
  ] as const) {
    const res = await app.inject(json('/echo', payload));
    t.equal(res.statusCode, 400, label);
    t.same(res.json(), TOO_DEEP, label);
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/, `${label}: request id`);
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${label}: security headers`);
  }
  const deepest = await app.inject(json('/echo', bodyOfDepth({ data: '@@deep@@' }, MAX_DEPTH)));
  t.equal(deepest.statusCode, 201, '32 levels are accepted');
  const brackets = await app.inject(json('/echo', JSON.stringify({ data: `${'['.repeat(5000)}"\\${'{'.repeat(5000)}` })));
  t.equal(brackets.statusCode, 201, 'brackets, quotes and backslashes inside strings are text, not nesting');
});

t.test('the JSON parser keeps its other behaviour: malformed, empty, poisoned, wrong type, too large', async (t) => {
  const app = await kernelApp(t);
  const malformed = await app.inject(json('/echo', '{"data": ['));
  t.same(malformed.json(), { ok: false, error: 'Malformed JSON body', code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
  const empty = await app.inject(json('/echo', ''));
  t.equal(empty.statusCode, 400);
  t.same(empty.json(), { ok: false, error: 'Request body is empty', code: 'FST_ERR_CTP_EMPTY_JSON_BODY' });
  for (const poisoned of ['{"__proto__":{"admin":true}}', '{"data":{"constructor":{"prototype":{"admin":true}}}}']) {
    const res = await app.inject(json('/echo', poisoned));
    t.equal(res.statusCode, 400, `prototype poisoning refused: ${poisoned}`);
    t.equal(res.json().code, 'FST_ERR_CTP_INVALID_JSON_BODY');
  }
  const text = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'text/plain' }, payload: arrays(100) });
  t.equal(text.statusCode, 415);
  const charset = await app.inject(json('/echo', '{"data":1}', { 'content-type': 'application/json; charset=utf-8' }));
  t.equal(charset.statusCode, 201, 'application/json with a charset is still JSON');
  const huge = JSON.stringify({ data: 'x'.repeat(1024 * 1024) });
  const tooLarge = await app.inject(json('/echo', huge));
  t.equal(tooLarge.statusCode, 413);
  t.same(tooLarge.json(), { ok: false, error: 'Request body is too large', code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
  t.equal((await app.inject(json('/big', huge))).statusCode, 201, 'a route with its own bodyLimit keeps it');
  const deepAndLarge = await app.inject(json('/big', `${'['.repeat(2 * 1024 * 1024)}`));
  t.same(deepAndLarge.json(), TOO_DEEP, 'deep nesting under a large route limit is refused the same way');
});

t.test('Manager: deep event details and policy rules are 400 and store nothing', async (t) => {
  const { app, db } = await buildManager(t);
  const agent = await register(app);
  const eventsUrl = `/api/agents/${agent.id}/events`;
  const eventsPayload = { events: [event({ details: { sourceIp: '203.0.113.7', nested: '@@deep@@' } })] };
  const policyPayload = { name: 'deep', rules: [{ type: 'custom', config: { condition: 'x', action: 'log', params: { nested: '@@deep@@' } } }] };
  const cases: Array<[string, string, string, Record<string, string>, string]> = [
    ['events, 100,000 [', eventsUrl, withDeep(eventsPayload, 100_000), agent.headers, 'threat_events'],
    ['events, 33 levels', eventsUrl, bodyOfDepth(eventsPayload, MAX_DEPTH + 1), agent.headers, 'threat_events'],
    ['policy, 100,000 [', '/api/policy', withDeep(policyPayload, 100_000), OPERATOR, 'policies'],
    ['policy, 33 levels', '/api/policy', bodyOfDepth(policyPayload, MAX_DEPTH + 1), OPERATOR, 'policies'],
  ];
  for (const [label, url, payload, headers, table] of cases) {
    const res = await app.inject(json(url, payload, headers));
    t.equal(res.statusCode, 400, label);
    t.same(res.json(), TOO_DEEP, label);
    t.equal(countRows(db, table), 0, `${label}: nothing stored`);
  }
  const unauthenticated = await app.inject(json(eventsUrl, withDeep(eventsPayload, 100_000)));
  t.same(unauthenticated.json(), TOO_DEEP, 'refused before anything else looks at the request');
  t.equal((await app.inject(json(eventsUrl, bodyOfDepth(eventsPayload, MAX_DEPTH), agent.headers))).statusCode, 201, 'events at 32 levels are stored');
  t.equal((await app.inject(json('/api/policy', bodyOfDepth(policyPayload, MAX_DEPTH), OPERATOR))).statusCode, 201, 'a policy at 32 levels is stored');
});

t.test('Threat Cloud: deep threat metadata and sighting context are 400 and store nothing', async (t) => {
  const tc = await buildThreatCloud(t);
  t.equal((await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.40')] } })).statusCode, 201);
  const threatsPayload = { threats: [threat('198.51.100.41', { metadata: { nested: '@@deep@@' } })] };
  const sightingPayload = { value: '198.51.100.40', source: 'fw', context: { nested: '@@deep@@' } };
  const iocs = countRows(tc.db, 'iocs');
  const sightings = countRows(tc.db, 'sightings');
  for (const [label, url, payload] of [
    ['threats, 100,000 [', '/api/threats', withDeep(threatsPayload, 100_000)],
    ['threats, 33 levels', '/api/threats', bodyOfDepth(threatsPayload, MAX_DEPTH + 1)],
    ['sightings, 100,000 [', '/api/sightings', withDeep(sightingPayload, 100_000)],
    ['sightings, 33 levels', '/api/sightings', bodyOfDepth(sightingPayload, MAX_DEPTH + 1)],
  ] as const) {
    const res = await tc.inject(json(url, payload));
    t.equal(res.statusCode, 400, label);
    t.same(res.json(), TOO_DEEP, label);
    t.equal(countRows(tc.db, 'iocs'), iocs, `${label}: no IoC stored`);
    t.equal(countRows(tc.db, 'sightings'), sightings, `${label}: no sighting stored`);
  }
  t.equal((await tc.inject(json('/api/sightings', bodyOfDepth(sightingPayload, 8)))).statusCode, 201, 'a shallow context is still stored');
});

t.test('Auth Server: a deep body is 400 before validation and creates no account', async (t) => {
  const { app, db } = await buildAuth(t);
  const users = countRows(db, 'users');
  const payload = () => ({ email: uniqueEmail('deep'), name: 'Deep', password: 'correct horse battery staple', extra: '@@deep@@' });
  for (const [label, body] of [
    ['100,000 [', withDeep(payload(), 100_000)],
    ['33 levels', bodyOfDepth(payload(), MAX_DEPTH + 1)],
    ['100,000 [ in a string field', withDeep({ ...payload(), extra: undefined, name: '@@deep@@' }, 100_000)],
  ] as const) {
    const res = await app.inject(json('/api/auth/register', body));
    t.equal(res.statusCode, 400, label);
    t.same(res.json(), TOO_DEEP, label);
  }
  t.equal(countRows(db, 'users'), users, 'no account made');
  t.equal((await app.inject(json('/api/auth/register', bodyOfDepth(payload(), MAX_DEPTH)))).statusCode, 201, '32 levels (unknown field dropped) register');
});
