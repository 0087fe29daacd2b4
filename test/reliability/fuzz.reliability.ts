import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import t, { type Test } from 'tap';
import { readClusterSecret } from '../../src/shared/cluster-secrets.js';
import { tempDir } from '../helper.js';
import { startServerProcess, type ServerProcess } from '../process.js';
import { rawExchange, type RawTarget } from '../raw-http.js';
import { selectRows, type Engine } from '../engines.js';
import { ENGINES, processDatabase, tablesOf } from './process-database.js';
import { createRandom, deeplyNestedBody, generateValid, hostileRawBodies, HOSTILE_STRINGS, mutate, rawProtocolAttacks, type Json, type JsonSchema, type Random } from './fuzz-inputs.js';

/**
 * Schema-driven fuzzing of every route of the three services, through the real process:
 * never a 5xx (503 aside, enveloped), always the envelope on JSON answers, and a 4xx never
 * changes a stored row. Routes come from each service's own OpenAPI document.
 */
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 10_000);
/** Raw requests the HTTP parser refuses, sent after the schema-driven ones. */
const RAW_ATTACKS = Number(process.env.FUZZ_RAW_ATTACKS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const TC_KEY = `pgk_fuzz_${'f'.repeat(40)}`;

/**
 * Derived or bookkeeping tables a refused request may legitimately touch (audit and the counts
 * kept of it, counters), and job_leases, which the background jobs' timers write meanwhile.
 */
const UNCHECKED_TABLES = /audit|auth_counts|_log$|outbox|attempt|failure|lockout|limit|stream_events|tc_state|campaign|correlation|job_leases|sqlite_/;
/** Routes that take their body as raw bytes (signed webhooks), so JSON nesting is not theirs to refuse. */
const RAW_BODY = /\/billing\/webhook$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Routes whose answer is not the JSON envelope by contract. */
const NOT_ENVELOPED = /^\/(docs|metrics)|\/feeds\/stix|\/events\/stream/;

interface Operation {
  service: 'auth' | 'manager' | 'threatCloud';
  method: string;
  path: string;
  body?: JsonSchema;
  query: Array<{ name: string; schema: JsonSchema; required: boolean }>;
  params: string[];
}

interface OpenApi {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: JsonSchema }> }; parameters?: Array<{ in: string; name: string; required?: boolean; schema: JsonSchema }> }>>;
}

function send(url: string, options: { method: string; headers: Record<string, string>; body?: Buffer; ca?: Buffer; agent: http.Agent }): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(target, { method: options.method, headers: options.headers, agent: options.agent, ...(options.ca ? { ca: options.ca } : {}), timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${options.method} ${url}`)));
    req.on('error', reject);
    if (options.body) req.write(options.body);
    req.end();
  });
}

function pathValue(random: Random): string {
  return encodeURIComponent(random.pick(['agent-unknown', 'usr_x', 'ioc_x', '198.51.100.7', 'evil.example', '..', '%00', 'x'.repeat(3000), '😀', "1' OR '1'='1", 'a/b']));
}

for (const engine of ENGINES) t.test(`fuzzing every route (${TOTAL} requests, seed ${SEED}, ${engine})`, (t) => fuzzEveryRoute(t, engine));

async function fuzzEveryRoute(t: Test, engine: Engine): Promise<void> {
  const dataDir = tempDir(t);
  const database = await processDatabase(t, engine, dataDir);
  const server: ServerProcess = await startServerProcess(dataDir, { RATE_LIMIT_SCALE: '100000', TC_API_KEYS: TC_KEY, LOG_LEVEL: 'error', ...database.env });
  t.teardown(() => server.stop('SIGKILL'));
  await server.waitHealthy();
  const ca = server.managerCa();
  const agents = { plain: new http.Agent({ keepAlive: true }), tls: new https.Agent({ keepAlive: true, ca }) };
  t.teardown(() => {
    agents.plain.destroy();
    agents.tls.destroy();
  });
  const base = server.urls;
  const call = (service: Operation['service'], method: string, url: string, headers: Record<string, string>, body?: Buffer) =>
    send(`${base[service]}${url}`, { method, headers, ...(body ? { body } : {}), ...(service === 'manager' ? { ca } : {}), agent: service === 'manager' ? agents.tls : agents.plain });

  // On PostgreSQL the generated secrets are kept in the database, shared by every replica.
  const managerToken =
    engine === 'postgres'
      ? (await readClusterSecret(await database.open(), 'managerAuthToken'))!
      : (JSON.parse((await import('node:fs')).readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { managerAuthToken: string }).managerAuthToken;
  let userToken = '';
  async function freshUser(): Promise<void> {
    const email = `fuzz-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
    const res = await call('auth', 'POST', '/api/auth/register', { 'content-type': 'application/json' }, Buffer.from(JSON.stringify({ email, name: 'Fuzz', password: 'correct horse battery staple' })));
    userToken = res.status === 201 ? ((JSON.parse(res.body) as { data: { token: string } }).data.token ?? '') : '';
  }
  await freshUser();
  const credentials: Record<Operation['service'], () => string> = { auth: () => userToken, manager: () => managerToken, threatCloud: () => TC_KEY };

  const operations: Operation[] = [];
  for (const service of ['auth', 'manager', 'threatCloud'] as const) {
    const doc = JSON.parse((await call(service, 'GET', '/docs/json', {})).body) as OpenApi;
    for (const [route, methods] of Object.entries(doc.paths)) {
      if (NOT_ENVELOPED.test(route) && route.includes('stream')) continue;
      for (const [method, spec] of Object.entries(methods)) {
        const parameters = spec.parameters ?? [];
        operations.push({
          service,
          method: method.toUpperCase(),
          path: route,
          ...(spec.requestBody?.content?.['application/json']?.schema ? { body: spec.requestBody.content['application/json'].schema } : {}),
          query: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema, required: Boolean(p.required) })),
          params: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        });
      }
    }
  }
  t.ok(operations.length >= 3, `${operations.length} operations found in the OpenAPI documents`);

  // Read while the process runs: a second connection, as an operator's query would be.
  const storage = await database.open();
  const tables = (await tablesOf(storage)).filter((n) => !UNCHECKED_TABLES.test(n));
  // One statement for all tables: one round trip per look, on PostgreSQL too.
  const countsSql = `SELECT ${tables.map((name, i) => `(SELECT count(*) FROM "${name}") AS c${i}`).join(', ')}`;
  const countAll = async () => {
    const [row] = await selectRows<Record<string, number>>(storage, countsSql);
    return tables.map((name, i) => `${name}=${Number(row![`c${i}`])}`).join(',');
  };

  const random = createRandom(SEED);
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  for (let i = 0; i < TOTAL && failures.length < 20; i++) {
    const op = operations[i % operations.length]!;
    const strategy = random.pick(['valid', 'mutated', 'mutated', 'raw', 'deep', 'query', 'headers', 'params'] as const);
    let url = op.path.replace(/\{(\w+)\}/g, () => (strategy === 'params' ? pathValue(random) : encodeURIComponent(random.pick(['198.51.100.7', 'agent-x', 'usr_x', 'evil.example']))));
    const query = new URLSearchParams();
    for (const q of op.query) {
      if (strategy === 'query' && random.chance(0.7)) query.set(q.name, random.pick(HOSTILE_STRINGS).slice(0, 3000));
      else if (q.required || random.chance(0.3)) query.set(q.name, String(generateValid(q.schema, random) ?? ''));
    }
    if (strategy === 'query' && random.chance(0.3)) query.append('__proto__', 'x');
    if ([...query.keys()].length > 0) url += `?${query.toString()}`;
    const headers: Record<string, string> = {};
    const auth = random.next();
    if (auth < 0.75) headers.authorization = `Bearer ${credentials[op.service]()}`;
    else if (auth < 0.9) headers.authorization = random.pick(['Bearer ', 'Bearer x', 'Basic YTpi', `Bearer ${'x'.repeat(600)}`, 'Bearer \u00ff\u00fe', `Bearer ${TC_KEY}x`]);
    if (strategy === 'headers') {
      headers['x-request-id'] = random.pick(['../../x', 'a'.repeat(100), 'ok-id', '\u00e9']);
      headers['x-forwarded-for'] = random.pick(['1.2.3.4', 'not-an-ip', '::1, 10.0.0.1']);
    }
    let body: Buffer | undefined;
    if (op.method !== 'GET' && op.method !== 'DELETE' && op.method !== 'HEAD') {
      if (strategy === 'raw') body = random.pick(hostileRawBodies(random));
      else if (strategy === 'deep') body = Buffer.from(deeplyNestedBody(generateValid(op.body, random), random));
      else {
        const value: Json = generateValid(op.body, random);
        body = Buffer.from(JSON.stringify(strategy === 'valid' ? value : mutate(value, random)));
      }
      headers['content-type'] = strategy === 'headers' ? random.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/json']) : 'application/json';
    }
    const before = await countAll();
    let res;
    try {
      res = await call(op.service, op.method, url, headers, body);
    } catch (error) {
      failures.push(`#${i} ${op.method} ${op.path} (${strategy}): no answer: ${(error as Error).message}`);
      break;
    }
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const where = `#${i} ${op.service} ${op.method} ${url.slice(0, 120)} (${strategy})`;
    if (res.status >= 500 && res.status !== 503) failures.push(`${where}: ${res.status} ${res.body.slice(0, 200)}`);
    if (res.type.includes('application/json') && !NOT_ENVELOPED.test(op.path)) {
      let parsed: { ok?: unknown; error?: unknown } | undefined;
      try {
        parsed = JSON.parse(res.body) as typeof parsed;
      } catch {
        failures.push(`${where}: JSON content type but unparseable body`);
      }
      if (parsed && (typeof parsed.ok !== 'boolean' || (parsed.ok === false && typeof parsed.error !== 'string'))) failures.push(`${where}: not an envelope: ${res.body.slice(0, 200)}`);
    }
    if (strategy === 'deep' && body && !RAW_BODY.test(op.path)) {
      let error: unknown;
      try {
        error = (JSON.parse(res.body) as { error?: unknown }).error;
      } catch {
        error = undefined;
      }
      if (res.status !== 400 || error !== 'Body is nested too deeply') failures.push(`${where}: deep nesting answered ${res.status} ${res.body.slice(0, 200)}`);
    }
    if (res.status >= 400 && res.status < 500) {
      const after = await countAll();
      if (after !== before) failures.push(`${where}: ${res.status} but rows changed: ${before} -> ${after}`);
    }
    if (op.service === 'auth' && res.status < 300 && /logout|delete-account|password|sessions/.test(op.path)) await freshUser();
  }
  // Requests Node's HTTP parser refuses, over raw sockets (the Manager over TLS): each gets
  // the envelope with a fresh request id and the security headers, and the connection closes.
  const targets: Record<Operation['service'], RawTarget> = {
    auth: { port: server.ports.auth },
    manager: { port: server.ports.manager, ca },
    threatCloud: { port: server.ports.threatCloud },
  };
  const posts = operations.filter((op) => op.method === 'POST' && !RAW_BODY.test(op.path));
  for (let i = 0; i < RAW_ATTACKS && failures.length < 20; i++) {
    const op = random.pick(posts);
    const attack = random.pick(rawProtocolAttacks(op.path.replace(/\{(\w+)\}/g, 'x'), random));
    const where = `raw #${i} ${op.service} ${attack.label}`;
    let res;
    try {
      res = await rawExchange(targets[op.service], attack.request);
    } catch (error) {
      failures.push(`${where}: ${(error as Error).message}`);
      continue;
    }
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    let envelope: { ok?: unknown; error?: unknown } | undefined;
    try {
      envelope = JSON.parse(res.body) as typeof envelope;
    } catch {
      envelope = undefined;
    }
    const problems = [
      res.status !== attack.status && `status ${res.status}, expected ${attack.status}`,
      (envelope?.ok !== false || typeof envelope.error !== 'string') && `not an envelope: ${res.body.slice(0, 120)}`,
      !UUID.test(res.headers['x-request-id'] ?? '') && 'no request id',
      res.headers['x-content-type-options'] !== 'nosniff' && 'no security headers',
      (op.service === 'manager') !== (res.headers['strict-transport-security'] !== undefined) && 'HSTS on the wrong listener',
      res.headers.connection !== 'close' && 'no Connection: close',
      !res.closedByServer && 'connection left open',
    ].filter(Boolean);
    if (problems.length > 0) failures.push(`${where}: ${problems.join('; ')}`);
  }

  t.same(failures, [], `seed ${SEED}: replay with FUZZ_SEED=${SEED}`);
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  t.equal(server.child.exitCode, null, 'the process is still running');
  await server.waitHealthy(5000);
}
