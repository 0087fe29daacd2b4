import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import createClient from 'openapi-fetch';
import t from 'tap';
import type { paths as ManagerPaths } from '../../src/smoke/generated/manager.js';
import { GENERATED_FILES, SERVICES, typesFromDocument, type OpenApiDocument } from '../../src/smoke/generate-types.js';
import { tempDir } from '../helper.js';
import { freePort, REPO_ROOT, request, runSmoke, startServerProcess } from '../process.js';

const TC_KEY = 'tc-bootstrap-key-for-the-smoke-test-0123456789abcdef';
const STEPS = ['register user', 'log in', 'create enrollment token', 'register agent', 'send heartbeat', 'post threat events', 'upload IoCs', 'look up IoC', 'read ip-blocklist', 'read JSON feed'];
const CLEAN_UP = ['revoke test IoCs', 'deregister agent', 'delete test account'];
const ADMIN_PASSWORD = 'Smoke-Test-Admin-Passphrase-7';

/** Each line with its timing replaced, so lines compare exactly. */
const untimed = (lines: string[]) => lines.map((line) => line.replace(/ \(\d+ ms\)$/, ''));

t.test('npm run smoke against the real process', async (t) => {
  const dataDir = tempDir(t);
  // Several runs register accounts from one address; the per-IP registration limit is not what is tested.
  const server = await startServerProcess(dataDir, { TC_API_KEYS: TC_KEY, RATE_LIMIT_SCALE: '10' });
  t.teardown(() => server.stop('SIGKILL'));
  await server.waitHealthy();
  const { auth, manager, threatCloud } = server.urls;
  const urls = ['--auth', auth, '--manager', manager, '--tc', threatCloud];
  const keyEnv = { PANGUARD_SMOKE_TC_KEY: TC_KEY };
  // The deployment's own admin exists before any smoke run, as on a real server.
  const admin = await request(`${auth}/api/auth/register`, { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', name: 'Admin', password: ADMIN_PASSWORD }) });
  t.equal(admin.status, 201, admin.body);
  const adminSession = { authorization: `Bearer ${(JSON.parse(admin.body) as { data: { token: string } }).data.token}` };

  t.test('every step passes, one line each, exit 0', async (t) => {
    const run = await runSmoke([...urls, '--manager-ca', server.certFile], keyEnv);
    t.equal(run.code, 0, run.lines.join('\n') + run.stderr);
    t.ok(run.lines.slice(0, -1).every((line) => !line.startsWith('ok   ') || / \(\d+ ms\)$/.test(line)), 'every passed step says how long it took');
    t.same(untimed(run.lines.slice(0, -1)), [
      ...[...STEPS, 'revoke test IoCs'].map((step) => `ok   ${step}`),
      "skip deregister agent: the agent goes with the account's org",
      'ok   delete test account',
    ]);
    t.match(run.lines.at(-1), /^passed: 12 ok, 1 skipped, 0 failed \(run smoke-/);
  });

  t.test('a second run against the same server passes too, here with the operator token for the Manager', async (t) => {
    const operatorToken = (JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { managerAuthToken: string }).managerAuthToken;
    const run = await runSmoke([...urls, '--manager-ca', server.certFile, '--manager-token', operatorToken, '--tc-key', TC_KEY]);
    t.equal(run.code, 0, run.lines.join('\n') + run.stderr);
    t.same(
      untimed(run.lines.slice(0, -1)),
      [...STEPS.filter((step) => step !== 'create enrollment token'), ...CLEAN_UP].map((step) => `ok   ${step}`),
      'no enrollment token is needed when the Manager token is given, and the agent it made is removed',
    );
  });

  t.test("the Manager's self-signed certificate is refused unless it is named", async (t) => {
    const run = await runSmoke(urls, keyEnv);
    t.equal(run.code, 1);
    t.match(run.lines, ['ok   register user', 'ok   log in', 'ok   create enrollment token', /^FAIL register agent: .*--manager-ca/, 'skip send heartbeat: an earlier step failed']);
    t.ok(run.lines.some((line) => line.startsWith('ok   delete test account')), 'the account is removed after the failure too');
    t.match(run.lines.at(-1), /^FAILED: 4 ok, 8 skipped, 1 failed/);
  });

  t.test('--insecure is said out loud', async (t) => {
    const run = await runSmoke([...urls, '--insecure'], keyEnv);
    t.equal(run.code, 0, run.lines.join('\n') + run.stderr);
    t.equal(run.lines[0], 'warn TLS certificates are not verified (--insecure)');
  });

  t.test('without a Threat Cloud key the first Threat Cloud step fails and says how to give one', async (t) => {
    const run = await runSmoke([...urls, '--manager-ca', server.certFile]);
    t.equal(run.code, 1);
    t.ok(run.lines.includes('FAIL upload IoCs: no Threat Cloud key: pass --tc-key or set PANGUARD_SMOKE_TC_KEY (read and write scopes)'), run.lines.join('\n'));
    t.ok(run.lines.some((line) => line.startsWith('ok   post threat events (')), 'the steps before it still ran');
    t.ok(run.lines.includes('skip revoke test IoCs: nothing was uploaded'));
  });

  t.test('the runs left no account and no active test IoC behind', async (t) => {
    const users = await request(`${auth}/api/admin/users?q=smoke-`, { headers: adminSession });
    t.equal(users.status, 200, users.body);
    t.equal((JSON.parse(users.body) as { pagination: { total: number } }).pagination.total, 0, 'every smoke account was deleted');
    const tcKey = { authorization: `Bearer ${TC_KEY}` };
    const revoked = await request(`${threatCloud}/api/iocs?source=panguard-smoke-test&status=revoked`, { headers: tcKey });
    t.equal((JSON.parse(revoked.body) as { pagination: { total: number } }).pagination.total, 6, 'three passing runs, two IoCs each');
    const active = await request(`${threatCloud}/api/iocs?source=panguard-smoke-test&status=active`, { headers: tcKey });
    t.equal((JSON.parse(active.body) as { pagination: { total: number } }).pagination.total, 0, active.body);
  });

  t.test('a wrong URL fails its step and exits 1', async (t) => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const run = await runSmoke(['--auth', nobody, '--manager', manager, '--tc', threatCloud, '--manager-ca', server.certFile], keyEnv);
    t.equal(run.code, 1);
    t.match(run.lines[0], /^FAIL register user: .*ECONNREFUSED/);
    t.same(
      run.lines.slice(1, -1),
      [...STEPS.slice(1).map((step) => `skip ${step}: an earlier step failed`), 'skip revoke test IoCs: nothing was uploaded', "skip deregister agent: the agent goes with the account's org", 'skip delete test account: no account to delete'],
    );
  });

  t.test('the committed client types are what openapi-typescript makes from the running documents', async (t) => {
    const ca = server.managerCa();
    const base = { auth, manager, threatCloud } as const;
    for (const service of SERVICES) {
      const res = await request(`${base[service]}/docs/json`, service === 'manager' ? { ca } : {});
      t.equal(res.status, 200);
      const committed = readFileSync(path.join(REPO_ROOT, 'src', 'smoke', GENERATED_FILES[service]), 'utf8');
      const generated = await typesFromDocument(JSON.parse(res.body) as OpenApiDocument);
      t.equal(generated, committed, `src/smoke/${GENERATED_FILES[service]} is up to date (run npm run smoke:types after changing the API)`);
    }
  });
});

t.test('bad arguments are a usage error, not a failed deployment', async (t) => {
  const run = await runSmoke(['--auth', 'localhost:3000']);
  t.equal(run.code, 2);
  t.match(run.stderr, 'smoke: --auth must be an http or https URL');
  const help = await runSmoke(['--help']);
  t.equal(help.code, 0);
  t.match(help.lines[0], 'Usage: npm run smoke -- --auth URL --manager URL --tc URL');
});

/**
 * Type-checked by `npm test` (tsc runs first): the generated types are real, so a request the
 * document does not allow does not compile. Never called.
 */
export function generatedTypesRejectWrongRequests(): void {
  const manager = createClient<ManagerPaths>({ baseUrl: 'https://localhost:8443' });
  // @ts-expect-error hostname is a string in the Manager's document
  void manager.POST('/api/agents/register', { body: { hostname: 42, os: 'linux', version: '1' } });
  // @ts-expect-error no such route
  void manager.GET('/api/agents/{id}/secrets', { params: { path: { id: 'agent-1' } } });
}
