import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import type { App } from '../../src/shared/base-app.js';
import { buildAuth, register as registerAccount } from '../auth/fixtures.js';
import { tempDir } from '../helper.js';
import { buildManager, OPERATOR } from '../manager/fixtures.js';
import { buildThreatCloud, threat } from '../threat-cloud/fixtures.js';

type Json = Record<string, unknown>;
interface Operation {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }>;
}
interface Document {
  openapi: string;
  info: { license?: { name: string } };
  servers?: Array<{ url: string; description?: string }>;
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
/** The fields of an OpenAPI 3.0.3 Schema Object; anything else (x- aside) is unknown to tools. */
const SCHEMA_FIELDS = new Set(
  (
    'title multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength pattern maxItems minItems ' +
    'uniqueItems maxProperties minProperties required enum type allOf oneOf anyOf not items properties ' +
    'additionalProperties description format default nullable discriminator readOnly writeOnly xml externalDocs ' +
    'example deprecated $ref'
  ).split(' '),
);
/** Redocly warnings we keep on purpose (see README "OpenAPI"); none today. */
const KEPT_REDOCLY_WARNINGS: string[] = [];
const REDOCLY = path.resolve('node_modules/@redocly/cli/bin/cli.js');

async function documentOf(app: App): Promise<Document> {
  const res = await app.inject({ url: '/docs/json' });
  if (res.statusCode !== 200) throw new Error(`/docs/json answered ${res.statusCode}`);
  return res.json() as Document;
}

function operations(doc: Document): Array<{ path: string; method: string; op: Operation }> {
  return Object.entries(doc.paths).flatMap(([p, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.has(method))
      .map(([method, op]) => ({ path: p, method, op })),
  );
}

/** Every keyword of every schema in the document that OpenAPI 3.0 does not define, with where it is. */
function unknownKeywords(doc: Document): string[] {
  const found: string[] = [];
  const schema = (node: unknown, at: string): void => {
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (!SCHEMA_FIELDS.has(key) && !key.startsWith('x-')) found.push(`${at}: ${key}`);
      if (key === 'properties') for (const [name, sub] of Object.entries(value as Json)) schema(sub, `${at}.${name}`);
      if (['items', 'not', 'additionalProperties'].includes(key)) schema(value, `${at}/${key}`);
      if (['allOf', 'anyOf', 'oneOf'].includes(key)) (value as unknown[]).forEach((sub, i) => schema(sub, `${at}/${key}/${i}`));
    }
  };
  // Everything that is not a schema is walked down to `schema` values and components.schemas.
  const outside = (node: unknown, at: string): void => {
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'schema') schema(value, `${at}/schema`);
      else if (key === 'schemas') for (const [name, sub] of Object.entries(value as Json)) schema(sub, `${at}/schemas/${name}`);
      else outside(value, `${at}/${key}`);
    }
  };
  outside(doc, '#');
  return found;
}

interface LintProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: Array<{ pointer: string }>;
}

/** `redocly lint` with its recommended rules, as an integrator would run it, offline. */
async function redoclyLint(t: Parameters<typeof tempDir>[0], doc: Document, name: string): Promise<LintProblem[]> {
  const file = path.join(tempDir(t), `${name}.json`);
  writeFileSync(file, JSON.stringify(doc));
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  // Exit code 1 means "problems found": the JSON report on stdout is what counts.
  const stdout = await promisify(execFile)(process.execPath, [REDOCLY, 'lint', file, '--format=json'], { env, cwd: path.dirname(file), timeout: 60_000 })
    .then((result) => result.stdout)
    .catch((error: { stdout?: string }) => error.stdout ?? '');
  return (JSON.parse(stdout) as { problems: LintProblem[] }).problems;
}

const mediaType = (header: unknown) => String(header ?? '').split(';')[0]!.trim();

function documented(doc: Document, p: string, method: string, status: number) {
  const op = doc.paths[p]?.[method];
  const response = op?.responses[String(status)] ?? op?.responses[`${String(status)[0]}XX`];
  return { types: Object.keys(response?.content ?? {}), headers: Object.keys(response?.headers ?? {}) };
}

/** The response has the one media type and every header the document names for its status. */
function matchesDocument(t: Test, doc: Document, p: string, method: string, res: { statusCode: number; headers: Json }, label: string) {
  const { types, headers } = documented(doc, p, method, res.statusCode);
  if (res.statusCode !== 304) t.same(types, [mediaType(res.headers['content-type'])], `${label}: ${res.statusCode} media type as documented`);
  for (const header of headers) t.ok(res.headers[header.toLowerCase()] !== undefined, `${label}: ${res.statusCode} sends documented ${header}`);
}

/** Without credentials, a bearer operation answers 401, and an operation that does not is declared public. */
async function checkSecurity(t: Test, app: App, doc: Document) {
  for (const { path: p, method, op } of operations(doc)) {
    const label = `${method.toUpperCase()} ${p}`;
    t.ok(Array.isArray(op.security), `${label} declares its security`);
    const url = p.replace(/\{[^}]+\}/g, 'probe');
    const res: LightMyRequestResponse = await app.inject({ method: method.toUpperCase() as 'GET', url, remoteAddress: '198.51.100.99' });
    if (op.security?.length) t.equal(res.statusCode, 401, `${label} needs a token`);
    else if (res.statusCode !== 401) t.same(op.security, [], `${label} is public and says so`);
  }
}

async function checkDocument(t: Test, app: App, name: string): Promise<Document> {
  const doc = await documentOf(app);
  t.equal(doc.openapi, '3.0.3');
  const verdict = await SwaggerParser.validate(structuredClone(doc) as never).then(
    () => 'valid',
    (error: Error) => error.message.slice(0, 2000),
  );
  t.equal(verdict, 'valid', 'swagger-parser validates it');
  t.same(unknownKeywords(doc), [], 'only OpenAPI 3.0 schema keywords');
  t.ok(doc.info.license?.name, 'info.license');
  t.ok(doc.servers?.length && doc.servers.every((server) => server.url && server.description?.includes('Panguard')), 'servers name the service');

  const ids = operations(doc).map(({ path: p, method, op }) => op.operationId ?? `(none: ${method} ${p})`);
  t.same(ids.filter((id) => !/^[a-z][A-Za-z0-9]+$/.test(id)), [], 'every operation has a readable operationId');
  t.same(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'operationIds are unique');

  const problems = await redoclyLint(t, doc, name);
  const describe = (p: LintProblem) => `${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`;
  t.same(problems.filter((p) => p.severity === 'error').map(describe), [], 'redocly lint: no error');
  t.same(problems.filter((p) => p.severity !== 'error' && !KEPT_REDOCLY_WARNINGS.includes(p.ruleId)).map(describe), [], 'redocly lint: no unexpected warning');
  await checkSecurity(t, app, doc);
  return doc;
}

t.test('Auth Server: the document is valid and says what each route sends', async (t) => {
  const { app } = await buildAuth(t);
  const doc = await checkDocument(t, app, 'auth');
  const account = await registerAccount(app);
  const me = await app.inject({ url: '/api/auth/me', headers: account.headers });
  t.equal(me.statusCode, 200);
  matchesDocument(t, doc, '/api/auth/me', 'get', me, 'me');
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'nobody@example.com', password: 'wrong password' } });
  matchesDocument(t, doc, '/api/auth/login', 'post', login, 'failed login');
});

t.test('Manager: the document is valid and says what each route sends, the event stream included', async (t) => {
  const { app } = await buildManager(t);
  const doc = await checkDocument(t, app, 'manager');
  const agents = await app.inject({ url: '/api/agents', headers: OPERATOR });
  t.equal(agents.statusCode, 200);
  matchesDocument(t, doc, '/api/agents', 'get', agents, 'agents');

  // The stream never ends: read its headers on a real socket, then hang up.
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const stream = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/api/events/stream', headers: OPERATOR }, (res) => {
      resolve(res);
      request.destroy();
    });
    request.on('error', (error) => (error.message === 'socket hang up' ? undefined : reject(error)));
  });
  t.equal(stream.statusCode, 200);
  matchesDocument(t, doc, '/api/events/stream', 'get', { statusCode: 200, headers: stream.headers as Json }, 'event stream');
});

t.test('Manager: a rate-limited answer carries the headers the document names', async (t) => {
  const { app } = await buildManager(t, { env: { MANAGER_RATE_LIMIT: '1' } });
  const doc = await documentOf(app);
  await app.inject({ url: '/api/agents', headers: OPERATOR });
  const limited = await app.inject({ url: '/api/agents', headers: OPERATOR });
  t.equal(limited.statusCode, 429);
  t.same(documented(doc, '/api/agents', 'get', 429).headers.sort(), ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']);
  matchesDocument(t, doc, '/api/agents', 'get', limited, 'rate limited');
});

t.test('Threat Cloud: the document is valid and the feeds are documented with the media types they send', async (t) => {
  const tc = await buildThreatCloud(t);
  const doc = await checkDocument(t, tc.app, 'threat-cloud');
  const upload = await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('203.0.113.9'), { type: 'domain', value: 'evil.example', source: 'test-sensor' }] } });
  t.equal(upload.statusCode, 201, upload.body);

  for (const feed of ['/api/feeds/ip-blocklist', '/api/feeds/domain-blocklist']) t.same(documented(doc, feed, 'get', 200).types, ['text/plain'], `${feed} is text/plain`);
  for (const url of ['/api/feeds/ip-blocklist', '/api/feeds/domain-blocklist', '/api/feeds/stix', '/api/feeds/iocs', '/api/feeds/agent-update', '/api/iocs']) {
    const res = await tc.inject({ url });
    t.equal(res.statusCode, 200, url);
    matchesDocument(t, doc, url, 'get', res, url);
    if (url.startsWith('/api/feeds/')) {
      t.ok(documented(doc, url, 'get', 200).headers.includes('ETag'), `${url} documents its ETag`);
      const again = await tc.inject({ url, headers: { 'if-none-match': String(res.headers.etag) } });
      t.equal(again.statusCode, 304, `${url} revalidates`);
      matchesDocument(t, doc, url, 'get', again, url);
    }
  }
  const lookup = await tc.inject({ url: '/api/iocs/203.0.113.9' });
  matchesDocument(t, doc, '/api/iocs/{value}', 'get', lookup, 'lookup');
});
