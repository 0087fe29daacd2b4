import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import * as OTPAuth from 'otpauth';
import t from 'tap';
import { REPO_ROOT, request, startServerProcess, type HttpResult } from '../process.js';
import { countRows, tempDir } from '../helper.js';
import { connectPostgres, startPostgres } from '../postgres.js';

const run = promisify(execFile);
const BOOTSTRAP_KEY = 'tc-bootstrap-key-for-the-platform-story-0123456789';
const ATTACKER_IP = '198.51.100.77';
const CLEAN_IP = '203.0.113.50';
const PASSWORD = 'Platform-Story-Passphrase-7';

interface Json {
  ok: boolean;
  data?: unknown;
  error?: string;
  [key: string]: unknown;
}

function json(result: HttpResult): Json {
  return JSON.parse(result.body) as Json;
}

/** The `data` of a success envelope, typed as the contract describes it. */
function data<T>(result: HttpResult): T {
  return json(result).data as T;
}

/** The value of one Prometheus sample whose labels include all of `labels` (0 when absent). */
function metric(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) total += Number(line.split(' ').at(-1));
  }
  return total;
}

/** Debian's PostgreSQL client tools, beside the server binaries test/postgres.ts starts. */
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

for (const engine of ['sqlite', 'postgres'] as const) {
  t.test(`the platform story: account with TOTP, fleet detections feed the Threat Cloud, logins from a reported IP need the second factor (${engine})`, async (t) => {
    const dataDir = tempDir(t);
    const cluster = engine === 'postgres' ? await startPostgres(t) : null;
    const databaseUrl = cluster ? await cluster.freshDatabase() : null;
    const database: Record<string, string> = databaseUrl ? { DATABASE_URL: databaseUrl, DATABASE_TLS: 'disable' } : {};
    const server = await startServerProcess(dataDir, {
      ...database,
      TRUST_PROXY: 'true',
      METRICS_ENABLED: 'true',
      TC_API_KEYS: BOOTSTRAP_KEY,
      // The backup step keeps one agent posting; the per-agent limit is not what is tested here.
      MANAGER_RATE_LIMIT: '100000',
    });
    t.teardown(() => server.stop('SIGKILL'));
    await server.waitHealthy();
    const { auth, manager, threatCloud } = server.urls;
    const ca = server.managerCa();
    // On PostgreSQL the generated secrets are kept in the database, shared by every replica.
    const managerToken = databaseUrl
      ? ((await (await connectPostgres(t, databaseUrl)).query(`SELECT value FROM cluster_secrets WHERE name = 'managerAuthToken'`)).rows[0] as { value: string }).value
      : (JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { managerAuthToken: string }).managerAuthToken;
    const post = (url: string, body: unknown, headers: Record<string, string> = {}, tls = false) =>
      request(url, { method: 'POST', body: JSON.stringify(body), headers, ...(tls ? { ca } : {}) });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    // 1. The first account, registered from loopback, is the admin; it enables TOTP and gets a writing key.
    const registered = await post(`${auth}/api/auth/register`, { email: 'Owner@Example.com', name: 'Owner', password: PASSWORD });
    t.equal(registered.status, 201, registered.body);
    const owner = json(registered).data as { user: { id: string; email: string }; token: string };
    t.equal(owner.user.email, 'owner@example.com');
    const session = bearer(owner.token);
    const me = json(await request(`${auth}/api/auth/me`, { headers: session })).data as { role: string; tier: string };
    t.match(me, { role: 'admin', tier: 'community' }, 'first account from loopback is an admin on community');

    const setup = await post(`${auth}/api/auth/totp/setup`, {}, session);
    t.equal(setup.status, 200, setup.body);
    const { secret, otpauthUrl } = json(setup).data as { secret: string; otpauthUrl: string };
    t.match(otpauthUrl, /^otpauth:\/\/totp\/Panguard:owner%40example\.com\?/);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 });
    const verified = await post(`${auth}/api/auth/totp/verify`, { totpCode: totp.generate() }, session);
    t.equal(verified.status, 200, verified.body);
    t.equal(data<{ message: string }>(verified).message, 'Two-factor authentication enabled successfully');

    const raised = await request(`${auth}/api/admin/users/${owner.user.id}`, { method: 'PATCH', body: JSON.stringify({ tier: 'pro' }), headers: session });
    t.equal(raised.status, 200, raised.body);
    t.equal(data<{ tier: string }>(raised).tier, 'pro');
    const keyCreated = await post(`${auth}/api/auth/api-keys`, { name: 'story key', scopes: ['read', 'write'] }, session);
    t.equal(keyCreated.status, 201, keyCreated.body);
    const userKey = json(keyCreated).data as { key: string; tier: string; scopes: string[] };
    t.match(userKey, { tier: 'pro', scopes: ['read', 'write'] }, 'a pro account gets a key that can write');
    const tcKey = bearer(userKey.key);

    // 2. An agent of the owner's org reports a brute force from a public address.
    const registerAgent = async (hostname: string, orgId: string) => {
      const res = await post(`${manager}/api/agents/register`, { hostname, os: 'linux', version: '1.4.0', org_id: orgId }, bearer(managerToken), true);
      t.equal(res.status, 201, res.body);
      return json(res).data as { id: string; agentToken: string };
    };
    const report = async (agent: { id: string; agentToken: string }, count: number, details: Record<string, unknown>) => {
      const events = Array.from({ length: count }, () => ({ type: 'brute_force', severity: 'critical', confidence: 0.9, details }));
      return post(`${manager}/api/agents/${agent.id}/events`, { events }, bearer(agent.agentToken), true);
    };
    const ownAgent = await registerAgent('web-01.owner.example', owner.user.id);
    const first = await report(ownAgent, 2, { sourceIp: ATTACKER_IP, attempts: 40 });
    t.equal(first.status, 201, first.body);
    t.equal(data<{ received: number }>(first).received, 2);

    const blocklist = async () => {
      const res = await request(`${threatCloud}/api/feeds/ip-blocklist`, { headers: tcKey });
      t.equal(res.status, 200, res.body);
      return res.body.split('\n').filter((line) => line && !line.startsWith('#'));
    };
    const afterOneOrg = json(await request(`${threatCloud}/api/iocs/${ATTACKER_IP}`, { headers: tcKey })).data as { reputation: number };
    t.ok(afterOneOrg.reputation > 30, `one org alone cannot blocklist an address (reputation ${afterOneOrg.reputation})`);
    t.notOk((await blocklist()).includes(ATTACKER_IP));

    // 3. A second org's agent sees the same address.
    const partnerAgent = await registerAgent('mail-02.partner.example', 'org-partner');
    const second = await report(partnerAgent, 1, { sourceIp: ATTACKER_IP, attempts: 12 });
    t.equal(second.status, 201, second.body);

    // 4. The address is now known to the Threat Cloud and on the blocklist.
    const lookup = await request(`${threatCloud}/api/iocs/${ATTACKER_IP}`, { headers: tcKey });
    t.equal(lookup.status, 200, lookup.body);
    const ioc = json(lookup).data as { value: string; type: string; status: string; category: string; reputation: number; sources: string[]; reputationFactors: { reporters: number; reports: number } };
    t.match(ioc, { value: ATTACKER_IP, type: 'ip', status: 'active', category: 'bruteforce' });
    t.ok(ioc.sources.includes('guard-agent'), 'reported by the fleet');
    t.equal(ioc.reputationFactors.reporters, 2, 'two orgs are two reporters');
    t.equal(ioc.reputationFactors.reports, 3);
    t.ok(ioc.reputation <= 30, `reputation ${ioc.reputation} is at or below the blocklist threshold`);
    t.ok((await blocklist()).includes(ATTACKER_IP), 'on the IP blocklist');

    // 5. A login from that address needs the second factor; an account without one is blocked there.
    const fromAttacker = { 'x-forwarded-for': ATTACKER_IP };
    const noCode = await post(`${auth}/api/auth/login`, { email: 'owner@example.com', password: PASSWORD }, fromAttacker);
    t.equal(noCode.status, 200, noCode.body);
    t.same(json(noCode), { ok: false, error: '2FA_REQUIRED', totpRequired: true });
    // The next step's code: the verify step above is burnt (replay protection), the window is ±1 step.
    const withCode = await post(`${auth}/api/auth/login`, { email: 'owner@example.com', password: PASSWORD, totpCode: totp.generate({ timestamp: Date.now() + 30_000 }) }, fromAttacker);
    t.equal(withCode.status, 200, withCode.body);
    const signedIn = data<{ token: string; user: { totpEnabled: boolean } }>(withCode);
    t.ok(signedIn.token, 'signed in with the TOTP code');
    t.equal(signedIn.user.totpEnabled, true);

    const plain = await post(`${auth}/api/auth/register`, { email: 'plain@example.com', name: 'Plain', password: PASSWORD }, { 'x-forwarded-for': CLEAN_IP });
    t.equal(plain.status, 201, plain.body);
    const blocked = await post(`${auth}/api/auth/login`, { email: 'plain@example.com', password: PASSWORD }, fromAttacker);
    t.equal(blocked.status, 403, blocked.body);
    t.equal(json(blocked).error, 'Login blocked from a known malicious address');
    const clean = await post(`${auth}/api/auth/login`, { email: 'plain@example.com', password: PASSWORD }, { 'x-forwarded-for': CLEAN_IP });
    t.equal(clean.status, 200, 'the same account signs in from a clean address');

    // 6. Each service's /metrics counts the traffic by route pattern, without raw ids or values.
    const scrape = async (url: string, tls = false) => {
      const res = await request(`${url}/metrics`, tls ? { ca } : {});
      t.equal(res.status, 200);
      t.match(res.headers['content-type'], /^text\/plain/);
      t.notMatch(res.body, ATTACKER_IP, 'no IoC values in labels');
      return res.body;
    };
    const authMetrics = await scrape(auth);
    t.equal(metric(authMetrics, 'panguard_http_requests_total', { method: 'POST', route: '/api/auth/register', status_code: '201' }), 2);
    t.equal(metric(authMetrics, 'panguard_http_requests_total', { method: 'POST', route: '/api/auth/login', status_code: '403' }), 1);
    t.equal(metric(authMetrics, 'panguard_http_requests_total', { method: 'PATCH', route: '/api/admin/users/:id', status_code: '200' }), 1);
    t.notMatch(authMetrics, owner.user.id, 'no user ids in labels');
    const managerMetrics = await scrape(manager, true);
    t.equal(metric(managerMetrics, 'panguard_http_requests_total', { method: 'POST', route: '/api/agents/:id/events', status_code: '201' }), 2);
    t.equal(metric(managerMetrics, 'panguard_http_requests_total', { method: 'POST', route: '/api/agents/register', status_code: '201' }), 2);
    t.equal(metric(managerMetrics, 'panguard_agents', { status: 'online' }), 2, 'agents gauge');
    t.notMatch(managerMetrics, ownAgent.id, 'no agent ids in labels');
    const tcMetrics = await scrape(threatCloud);
    t.ok(metric(tcMetrics, 'panguard_http_requests_total', { method: 'GET', route: '/api/iocs/:value', status_code: '200' }) >= 2);
    t.equal(metric(tcMetrics, 'panguard_http_requests_total', { method: 'GET', route: '/api/feeds/ip-blocklist', status_code: '200' }), 2);
    t.ok(metric(tcMetrics, 'panguard_iocs', { status: 'active' }) >= 1, 'IoCs gauge');
    for (const text of [authMetrics, managerMetrics, tcMetrics]) t.ok(metric(text, 'panguard_database_size_bytes', {}) > 0, 'database size gauge');

    // 7. A CLI backup taken while an agent keeps posting is consistent.
    let posting = true;
    const statuses: number[] = [];
    const poster = (async () => {
      while (posting) statuses.push((await report(ownAgent, 20, { sourceIp: '10.0.0.5', note: 'private: stays out of the Threat Cloud' })).status);
    })();
    while (statuses.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    const backupFile = path.join(tempDir(t), 'story.db');
    const cliEnv = { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...database };
    const backup = await run(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'backup', backupFile], { cwd: REPO_ROOT, env: cliEnv }).catch(
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    let copied: { users: number; events: number };
    if (databaseUrl === null) {
      t.match(backup.stdout, 'integrity ok');
    } else {
      // On PostgreSQL the command says how to back up instead: pg_dump, which is what this step then runs.
      t.match(backup.stderr, 'back it up with pg_dump');
      await run(path.join(PG_BIN, 'pg_dump'), ['--format=custom', `--file=${backupFile}`, databaseUrl]);
    }
    const postedDuringBackup = statuses.length;
    while (statuses.length < postedDuringBackup + 3) await new Promise((resolve) => setTimeout(resolve, 10));
    posting = false;
    await poster;
    t.ok(statuses.every((status) => status === 201), `every batch was accepted while the backup ran (${statuses.length} batches)`);
    if (databaseUrl === null) {
      const copy = new Database(backupFile, { readonly: true });
      t.teardown(() => copy.close());
      t.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
      copied = { users: countRows(copy, 'users'), events: countRows(copy, 'threat_events') };
    } else {
      // Restored as the command's message says, into an empty database.
      const restored = await cluster!.freshDatabase();
      await run(path.join(PG_BIN, 'pg_restore'), [`--dbname=${restored}`, backupFile]);
      const client = await connectPostgres(t, restored);
      const count = async (table: string) => Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
      copied = { users: await count('users'), events: await count('threat_events') };
    }
    t.equal(copied.users, 2);
    const copiedEvents = copied.events;
    t.ok(copiedEvents >= 3 + 3 * 20 && copiedEvents <= 3 + statuses.length * 20, `the snapshot holds ${copiedEvents} events, a consistent prefix of the writes`);
    t.equal(copiedEvents % 20, 3, 'whole batches only: each batch is one transaction');

    // 8. The STIX bundle parses and every indicator carries the properties STIX 2.1 requires.
    const stix = await request(`${threatCloud}/api/feeds/stix`, { headers: bearer(BOOTSTRAP_KEY) });
    t.equal(stix.status, 200, stix.body);
    const bundle = JSON.parse(stix.body) as { type: string; id: string; objects: Array<Record<string, unknown>> };
    t.equal(bundle.type, 'bundle');
    t.match(bundle.id, /^bundle--[0-9a-f-]{36}$/);
    const identities = new Set(bundle.objects.filter((o) => o.type === 'identity').map((o) => o.id));
    const indicators = bundle.objects.filter((o) => o.type === 'indicator');
    t.ok(indicators.length >= 1);
    for (const indicator of indicators) {
      t.equal(indicator.spec_version, '2.1');
      t.match(indicator.id, /^indicator--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'UUIDv5 id');
      for (const property of ['created', 'modified', 'valid_from']) t.ok(!Number.isNaN(Date.parse(String(indicator[property]))), `${property} is a timestamp`);
      t.equal(indicator.pattern_type, 'stix');
      t.type(indicator.pattern, 'string');
      if (indicator.created_by_ref !== undefined) t.ok(identities.has(indicator.created_by_ref), 'created_by_ref names an identity in the bundle');
    }
    const attacker = indicators.find((o) => o.pattern === `[ipv4-addr:value = '${ATTACKER_IP}']`);
    t.ok(attacker, 'the reported address is an indicator');
    const current = json(await request(`${threatCloud}/api/iocs/${ATTACKER_IP}`, { headers: tcKey })).data as { reputation: number };
    t.equal(attacker?.confidence, 100 - current.reputation, 'confidence is 100 − reputation');
    t.notOk(indicators.some((o) => String(o.pattern).includes('10.0.0.5')), 'private addresses never reach the Threat Cloud');
  });
}
