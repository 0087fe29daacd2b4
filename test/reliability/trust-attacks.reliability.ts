import t from 'tap';
import { tempDir } from '../helper.js';
import { request, startServerProcess, type HttpResult } from '../process.js';

/**
 * Attacks on the trust model of the collective intelligence, through the real process
 * (`node dist/main.js`): one party alone must never put an address on the default
 * blocklist, whatever org names it invents or whichever of its own keys and agents it uses,
 * and no read key may see another tenant's fleet ids in sightings. The blocklist matters
 * beyond the feeds: with AUTH_IP_REPUTATION_CHECK (default on) it locks logins out, so each
 * attack is also checked at the login of a bystander from the attacked address.
 * TRUST_PROXY=true lets each login name its client address in X-Forwarded-For.
 */
const MANAGER_TOKEN = 'trust-manager-token-0123456789abcdefghijkl';
const ENROLL_TOKEN = 'trust-enroll-token-0123456789abcdefghijklm';
const BOOTSTRAP_KEY = 'trust-bootstrap-key-0123456789abcdefghijklmnop';
const PASSWORD = 'Trust-Model-Passphrase-42';
const BLOCKED_LOGIN = { ok: false, error: 'Login blocked from a known malicious address' };

const json = (r: HttpResult) => JSON.parse(r.body) as { ok: boolean; data?: unknown; error?: string };
const dataOf = <T>(r: HttpResult) => json(r).data as T;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Set-up steps are not what is tested: an unexpected answer stops the test with its body. */
function expect(r: HttpResult, status: number, what: string): HttpResult {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${r.body}`);
  return r;
}

t.test('trust attacks on the blocklist through the real process', async (t) => {
  const server = await startServerProcess(tempDir(t), {
    TRUST_PROXY: 'true',
    MANAGER_AUTH_TOKEN: MANAGER_TOKEN,
    MANAGER_ENROLL_TOKEN: ENROLL_TOKEN,
    TC_API_KEYS: BOOTSTRAP_KEY,
    LOG_LEVEL: 'error',
  });
  t.teardown(() => server.stop('SIGKILL'));
  await server.waitHealthy(30_000);
  const { auth, manager, threatCloud } = server.urls;
  const ca = server.managerCa();

  const authPost = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    request(`${auth}${path}`, { method: 'POST', body: JSON.stringify(body), headers });
  const registerAgent = async (token: string, hostname: string, orgId: string) => {
    const r = await request(`${manager}/api/agents/register`, {
      ca,
      method: 'POST',
      headers: bearer(token),
      body: JSON.stringify({ hostname, os: 'linux', version: '1.0.0', org_id: orgId }),
    });
    return dataOf<{ id: string; agentToken: string }>(expect(r, 201, `register ${hostname} in ${orgId}`));
  };
  const eventIds: string[] = [];
  const detect = async (agent: { id: string; agentToken: string }, ip: string) => {
    const r = await request(`${manager}/api/agents/${agent.id}/events`, {
      ca,
      method: 'POST',
      headers: bearer(agent.agentToken),
      body: JSON.stringify({ events: [{ type: 'brute_force', severity: 'critical', confidence: 1, details: { sourceIp: ip, attempts: 500 } }] }),
    });
    eventIds.push(...dataOf<{ eventIds: string[] }>(expect(r, 201, 'event batch')).eventIds);
  };
  const tc = (path: string, key = BOOTSTRAP_KEY, body?: unknown) =>
    request(`${threatCloud}${path}`, { headers: bearer(key), ...(body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) }) });
  const upload = async (key: string, ip: string) => {
    expect(await tc('/api/threats', key, { threats: [{ type: 'ip', value: ip, source: 'honeypot', category: 'bruteforce', severity: 'critical', confidence: 1 }] }), 201, 'upload');
  };
  const factors = async (ip: string) => {
    const data = dataOf<{ reputation: number; reputationFactors: { reports: number; reporters: number } }>(await tc(`/api/iocs/${ip}`));
    return { reputation: data.reputation, ...data.reputationFactors };
  };
  const blocklist = async () => {
    const r = expect(await tc('/api/feeds/ip-blocklist'), 200, 'blocklist');
    return r.body.split('\n').filter((line) => line && !line.startsWith('#'));
  };

  // The first account from loopback is the admin: it raises itself to a tier that may contribute.
  const registered = expect(await authPost('/api/auth/register', { email: 'owner@example.com', name: 'Owner', password: PASSWORD }), 201, 'owner');
  const owner = dataOf<{ token: string; user: { id: string } }>(registered);
  const session = bearer(owner.token);
  const raise = { method: 'PATCH', body: JSON.stringify({ tier: 'pro' }), headers: session };
  expect(await request(`${auth}/api/admin/users/${owner.user.id}`, raise), 200, 'tier pro');
  const keyMade = expect(await authPost('/api/auth/api-keys', { name: 'own sensor', scopes: ['read', 'write'] }, session), 201, 'write key');
  const ownerKey = dataOf<{ key: string }>(keyMade).key;

  // A bystander who signs in from whatever address the attacks name.
  const bystander = { email: 'bystander@example.com', name: 'Bystander', password: PASSWORD };
  expect(await authPost('/api/auth/register', bystander, { 'x-forwarded-for': '203.0.113.200' }), 201, 'bystander');
  const loginFrom = (ip: string) => authPost('/api/auth/login', { email: 'bystander@example.com', password: PASSWORD }, { 'x-forwarded-for': ip });

  const invented: Array<{ id: string; agentToken: string }> = [];

  t.test('the install-only enroll token and two invented orgs: one reporter, off the blocklist, logins still pass', async (t) => {
    for (const org of ['invented-org-a', 'invented-org-b']) {
      const agent = await registerAgent(ENROLL_TOKEN, `sensor.${org}`, org);
      invented.push(agent);
      await detect(agent, '9.9.9.9');
    }
    const after = await factors('9.9.9.9');
    t.match(after, { reports: 2, reporters: 1 }, 'the operator fleet is one reporter');
    t.ok(after.reputation > 30, `reputation ${after.reputation} stays above the blocklist threshold`);
    t.notOk((await blocklist()).includes('9.9.9.9'), 'not on /api/feeds/ip-blocklist');
    t.equal((await loginFrom('9.9.9.9')).status, 200, 'a login from the attacked address is not locked out');
  });

  t.test("a user's key and the user's own agent: one reporter, off the blocklist", async (t) => {
    await upload(ownerKey, '9.9.9.10');
    await detect(await registerAgent(MANAGER_TOKEN, 'web-01.owner.example', owner.user.id), '9.9.9.10');
    const after = await factors('9.9.9.10');
    t.match(after, { reports: 2, reporters: 1 }, 'the key and the agent are the same person');
    t.ok(after.reputation > 30, `reputation ${after.reputation}`);
    t.notOk((await blocklist()).includes('9.9.9.10'));
    t.equal((await loginFrom('9.9.9.10')).status, 200, 'nor from this one');
  });

  t.test('a genuinely independent second reporter still corroborates, and the login check follows', async (t) => {
    await upload(BOOTSTRAP_KEY, '9.9.9.9');
    const after = await factors('9.9.9.9');
    t.match(after, { reports: 3, reporters: 2 }, 'the fleet and a bootstrap key are two reporters');
    t.ok(after.reputation <= 30, `reputation ${after.reputation}`);
    t.ok((await blocklist()).includes('9.9.9.9'), 'on /api/feeds/ip-blocklist');
    const login = await loginFrom('9.9.9.9');
    t.equal(login.status, 403, 'the bystander, without a second factor, is refused from the blocklisted address');
    t.has(json(login), BLOCKED_LOGIN);
  });

  t.test('sightings show other tenants no event, agent or org ids', async (t) => {
    const reader = expect(await authPost('/api/auth/api-keys', { name: 'reader', scopes: ['read'] }, session), 201, 'read key');
    const r = expect(await tc('/api/sightings?value=9.9.9.9', dataOf<{ key: string }>(reader).key), 200, 'sightings');
    const items = dataOf<Array<{ source: string; context: unknown }>>(r);
    t.same(items.filter((item) => item.source === 'guard-agent').map((item) => item.context), [{ type: 'brute_force' }, { type: 'brute_force' }]);
    for (const id of [...eventIds, ...invented.map((agent) => agent.id), 'invented-org-a', 'invented-org-b', owner.user.id]) {
      t.notOk(r.body.includes(id), `${id} does not appear`);
    }
  });
});
