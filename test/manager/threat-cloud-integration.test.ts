import t from 'tap';
import { authHeader, countRows } from '../helper.js';
import { seedUser } from '../seed.js';
import { BOOTSTRAP_KEY, buildThreatCloud, operatorKey, threat, userKey } from '../threat-cloud/fixtures.js';
import { event, buildManager, OPERATOR, register } from './fixtures.js';

/** A Manager and a Threat Cloud over one database file, as in the process. */
async function platform(t: Parameters<typeof buildManager>[0]) {
  const manager = await buildManager(t);
  const tc = await buildThreatCloud(t, { db: manager.db });
  const lookup = async (ip: string) => (await tc.app.inject({ url: `/api/iocs/${encodeURIComponent(ip)}`, headers: authHeader(BOOTSTRAP_KEY) })).json().data;
  return { ...manager, tc, lookup };
}

const post = (app: Awaited<ReturnType<typeof buildManager>>['app'], agentId: string, events: unknown[]) =>
  app.inject({ method: 'POST', url: `/api/agents/${agentId}/events`, headers: OPERATOR, payload: { events } });

const reportersOf = (db: Awaited<ReturnType<typeof buildManager>>['db'], ip: string) =>
  db.prepare(`SELECT r.reporter_id FROM ioc_reporters r JOIN iocs i ON i.id = r.ioc_id WHERE i.value = ? ORDER BY 1`).pluck().all(ip);

t.test('an event from a public source IP becomes a Threat Cloud report of the Manager, at once', async (t) => {
  const { app, db, lookup } = await platform(t);
  const agent = await register(app, { hostname: 'edge-1', org_id: 'acme' });
  const res = await post(app, agent.id, [event({ type: 'brute_force', severity: 'critical', confidence: 0.9, details: { sourceIp: '198.51.100.42' } })]);
  t.equal(res.statusCode, 201);
  const ioc = await lookup('198.51.100.42');
  t.equal(ioc.status, 'active');
  t.equal(ioc.category, 'bruteforce');
  t.equal(ioc.severity, 'critical');
  t.same(ioc.sources, ['guard-agent']);
  t.equal(ioc.reputationFactors.reporters, 1);
  t.same(reportersOf(db, '198.51.100.42'), ['manager'], 'an org that is no user is the operator fleet');
  t.ok(ioc.reputation > 30, `one reporter alone cannot blocklist an address (${ioc.reputation})`);
});

t.test('agents of orgs that are no user are one reporter, whatever the org names', async (t) => {
  const { app, db, lookup, tc } = await platform(t);
  const first = await register(app, { hostname: 'edge-1', org_id: 'acme' });
  const second = await register(app, { hostname: 'edge-9', org_id: 'globex' });
  for (const agent of [first, second]) {
    t.equal((await post(app, agent.id, [event({ severity: 'critical', confidence: 0.9, details: { source_ip: '198.51.100.77' } })])).statusCode, 201);
  }
  const ioc = await lookup('198.51.100.77');
  t.equal(ioc.reputationFactors.reports, 2);
  t.equal(ioc.reputationFactors.reporters, 1, 'two orgs of the operator fleet are one reporter');
  t.same(reportersOf(db, '198.51.100.77'), ['manager']);
  t.ok(ioc.reputation > 30, `not corroborated: ${ioc.reputation}`);
  const blocklist = await tc.app.inject({ url: '/api/feeds/ip-blocklist', headers: authHeader(BOOTSTRAP_KEY) });
  t.notMatch(blocklist.body, /^198\.51\.100\.77$/m);
});

t.test('an agent in a user org reports as that user, the same reporter as their keys', async (t) => {
  const { app, db, lookup, tc } = await platform(t);
  const owner = userKey(db, tc.clock, 'pro');
  const agent = await register(app, { hostname: 'own-1', org_id: owner.userId });
  t.equal((await post(app, agent.id, [event({ severity: 'critical', confidence: 0.9, details: { sourceIp: '198.51.100.90' } })])).statusCode, 201);
  t.same(reportersOf(db, '198.51.100.90'), [`user:${owner.userId}`]);
  const upload = await tc.inject({ method: 'POST', url: '/api/threats', key: owner.key, payload: { threats: [threat('198.51.100.90', { severity: 'critical', confidence: 0.9 })] } });
  t.equal(upload.statusCode, 201, upload.body);
  const ioc = await lookup('198.51.100.90');
  t.equal(ioc.reputationFactors.reports, 2);
  t.equal(ioc.reputationFactors.reporters, 1, "the user's key and the user's agent are one reporter");
  t.same(reportersOf(db, '198.51.100.90'), [`user:${owner.userId}`]);
});

t.test('sightings of fleet reports show the event type only: no event, agent or org id', async (t) => {
  const { app, db, tc } = await platform(t);
  const owner = userKey(db, tc.clock, 'pro');
  const agents = [await register(app, { hostname: 'tenant-a', org_id: 'org-tenant-a' }), await register(app, { hostname: 'tenant-b', org_id: owner.userId })];
  const eventIds: string[] = [];
  for (const agent of agents) {
    const res = await post(app, agent.id, [event({ type: 'port_scan', details: { sourceIp: '203.0.113.66' } })]);
    t.equal(res.statusCode, 201);
    eventIds.push(...(res.json().data.eventIds as string[]));
  }
  const reader = operatorKey(db, tc.clock, 'community', ['read']);
  const res = await tc.inject({ url: '/api/sightings?value=203.0.113.66', key: reader.key });
  t.equal(res.statusCode, 200);
  const items = res.json().data as Array<{ context: unknown; source: string }>;
  t.equal(items.length, 2);
  for (const item of items) {
    t.same(item.context, { type: 'port_scan' });
    t.equal(item.source, 'guard-agent');
  }
  for (const id of [...eventIds, ...agents.map((a) => a.id), 'org-tenant-a', owner.userId]) {
    t.notOk(res.body.includes(id), `${id} is not in the body`);
  }
  const stored = db.prepare(`SELECT context FROM sightings`).pluck().all() as string[];
  t.same(stored, [JSON.stringify({ type: 'port_scan' }), JSON.stringify({ type: 'port_scan' })], 'nothing more is stored either');
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
  seedUser(db, { id: 'usr_owner', tier: 'community' });
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
