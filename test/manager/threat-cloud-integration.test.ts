import t from 'tap';
import { authHeader } from '../helper.js';
import { BOOTSTRAP_KEY, buildTc } from '../threat-cloud/fixtures.js';
import { countRows, event, managerApp, OPERATOR, register } from './fixtures.js';

/** A Manager and a Threat Cloud over one database file, as in the process. */
async function platform(t: Parameters<typeof managerApp>[0]) {
  const manager = await managerApp(t);
  const tc = await buildTc(t, { db: manager.db });
  const lookup = async (ip: string) => (await tc.app.inject({ url: `/api/iocs/${encodeURIComponent(ip)}`, headers: authHeader(BOOTSTRAP_KEY) })).json().data;
  return { ...manager, tc, lookup };
}

const post = (app: Awaited<ReturnType<typeof managerApp>>['app'], agentId: string, events: unknown[]) =>
  app.inject({ method: 'POST', url: `/api/agents/${agentId}/events`, headers: OPERATOR, payload: { events } });

t.test('an event from a public source IP becomes a Threat Cloud report of the agent org, at once', async (t) => {
  const { app, lookup } = await platform(t);
  const agent = await register(app, { hostname: 'edge-1', org_id: 'acme' });
  const res = await post(app, agent.id, [event({ type: 'brute_force', severity: 'critical', confidence: 0.9, details: { sourceIp: '198.51.100.42' } })]);
  t.equal(res.statusCode, 201);
  const ioc = await lookup('198.51.100.42');
  t.equal(ioc.status, 'active');
  t.equal(ioc.category, 'bruteforce');
  t.equal(ioc.severity, 'critical');
  t.same(ioc.sources, ['guard-agent']);
  t.equal(ioc.reputationFactors.reporters, 1);
  t.ok(ioc.reputation > 30, `one org alone cannot blocklist an address (${ioc.reputation})`);
});

t.test('the same IP from a second org is corroborated onto the blocklist', async (t) => {
  const { app, lookup, tc } = await platform(t);
  const first = await register(app, { hostname: 'edge-1', org_id: 'acme' });
  const second = await register(app, { hostname: 'edge-9', org_id: 'globex' });
  for (const agent of [first, second]) {
    t.equal((await post(app, agent.id, [event({ severity: 'critical', confidence: 0.9, details: { source_ip: '198.51.100.77' } })])).statusCode, 201);
  }
  const ioc = await lookup('198.51.100.77');
  t.equal(ioc.reputationFactors.reporters, 2, 'two orgs are two reporters');
  t.ok(ioc.reputation <= 30, `corroborated reputation ${ioc.reputation}`);
  const blocklist = await tc.app.inject({ url: '/api/feeds/ip-blocklist', headers: authHeader(BOOTSTRAP_KEY) });
  t.match(blocklist.body, /^198\.51\.100\.77$/m);
});

t.test('every source key is read, and categories follow the event type', async (t) => {
  const { app, lookup } = await platform(t);
  const agent = await register(app, { org_id: 'acme' });
  await post(app, agent.id, [
    event({ type: 'port_scan', details: { srcIp: '203.0.113.10' } }),
    event({ type: 'malware_detected', details: { remoteAddress: '203.0.113.11' } }),
    event({ type: 'c2_connection', details: { sourceIp: '2001:db8:0:0::12' } }),
    event({ type: 'file_integrity', details: { sourceIp: '203.0.113.13' } }),
  ]);
  t.equal((await lookup('203.0.113.10')).category, 'scanner');
  t.equal((await lookup('203.0.113.11')).category, 'malware');
  t.equal((await lookup('2001:db8::12')).category, 'c2', 'IPv6 stored in canonical form');
  t.equal((await lookup('203.0.113.13')).category, null, 'other types report no category');
});

t.test('private, loopback, link-local and reserved sources are never reported', async (t) => {
  const { app, db } = await platform(t);
  const agent = await register(app, { org_id: 'acme' });
  const sources = ['10.1.2.3', '192.168.1.1', '172.16.0.9', '127.0.0.1', '169.254.1.1', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fc00::1', '224.0.0.1', 'not an ip'];
  const res = await post(app, agent.id, sources.map((ip) => event({ details: { sourceIp: ip } })));
  t.equal(res.statusCode, 201);
  t.equal(countRows(db, 'iocs'), 0);
});

t.test('a refused batch reports nothing to the Threat Cloud', async (t) => {
  const { app, db } = await platform(t);
  const agent = await register(app, { org_id: 'acme' });
  const res = await post(app, agent.id, [event({ details: { sourceIp: '198.51.100.5' } }), event({ severity: 'catastrophic' })]);
  t.equal(res.statusCode, 400);
  t.equal(countRows(db, 'iocs'), 0);
  t.equal(countRows(db, 'threat_events'), 0);
});

t.test('guard_endpoints: agents of a user org count against the owner tier', async (t) => {
  const { app, db } = await platform(t);
  db.prepare(`INSERT INTO users (id, email, name, password_hash, tier, created_at, updated_at) VALUES ('usr_owner', 'o@example.com', 'O', 'x', 'community', 'now', 'now')`).run();
  const first = await register(app, { hostname: 'one', org_id: 'usr_owner' });
  const second = await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload: { hostname: 'two', os: 'linux', version: '1', org_id: 'usr_owner' } });
  t.equal(second.statusCode, 403);
  t.same(second.json(), { ok: false, error: 'Quota exceeded for guard_endpoints on the community tier', code: 'FORBIDDEN' });
  t.equal(countRows(db, 'agents'), 1, 'nothing stored');
  const again = await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload: { hostname: 'one', os: 'linux', version: '1', org_id: 'usr_owner' } });
  t.equal(again.statusCode, 200, 're-registering an existing hostname never counts again');
  db.prepare(`UPDATE users SET tier = 'solo' WHERE id = 'usr_owner'`).run();
  t.equal((await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload: { hostname: 'two', os: 'linux', version: '1', org_id: 'usr_owner' } })).statusCode, 201, 'a higher tier has room');
  t.equal((await app.inject({ method: 'DELETE', url: `/api/agents/${first.id}`, headers: OPERATOR })).statusCode, 200);
  for (const hostname of ['x', 'y', 'z']) await register(app, { hostname, org_id: 'not-a-user' });
  t.equal(countRows(db, 'agents'), 4, 'an org that is no user has no quota');
});
