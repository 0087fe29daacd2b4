import type { Test } from 'tap';
import type { Storage } from '../../src/shared/db/storage.js';
import { authHeader } from '../helper.js';
import { execute, selectRows, type Engine } from '../engines.js';
import { BOOTSTRAP_KEY, buildThreatCloud, operatorKeyOn, threat, userKeyOn } from '../threat-cloud/fixtures.js';
import { borrowed, countIn, event, buildManagerOn, onBothEngines, OPERATOR, register, seedUserIn } from './fixtures.js';

/** A Manager and a Threat Cloud over one database (the SQLite file, or PostgreSQL), as in the process. */
async function platform(t: Test, engine: Engine) {
  const manager = await buildManagerOn(t, engine);
  const tc = await buildThreatCloud(t, engine === 'sqlite' ? { db: manager.db } : { storage: borrowed(manager.storage) });
  const lookup = async (ip: string) => (await tc.app.inject({ url: `/api/iocs/${encodeURIComponent(ip)}`, headers: authHeader(BOOTSTRAP_KEY) })).json().data;
  return { ...manager, tc, lookup };
}

const post = (app: Awaited<ReturnType<typeof buildManagerOn>>['app'], agentId: string, events: unknown[]) =>
  app.inject({ method: 'POST', url: `/api/agents/${agentId}/events`, headers: OPERATOR, payload: { events } });

const reportersOf = async (storage: Storage, ip: string) =>
  (await selectRows<{ reporter_id: string }>(storage, `SELECT r.reporter_id FROM ioc_reporters r JOIN iocs i ON i.id = r.ioc_id WHERE i.value = ? ORDER BY 1`, [ip])).map((row) => row.reporter_id);

onBothEngines('an event from a public source IP becomes a Threat Cloud report of the Manager, at once', async (t, engine) => {
  const { app, storage, lookup } = await platform(t, engine);
  const agent = await register(app, { hostname: 'edge-1', org_id: 'acme' });
  const res = await post(app, agent.id, [event({ type: 'brute_force', severity: 'critical', confidence: 0.9, details: { sourceIp: '198.51.100.42' } })]);
  t.equal(res.statusCode, 201);
  const ioc = await lookup('198.51.100.42');
  t.equal(ioc.status, 'active');
  t.equal(ioc.category, 'bruteforce');
  t.equal(ioc.severity, 'critical');
  t.same(ioc.sources, ['guard-agent']);
  t.equal(ioc.reputationFactors.reporters, 1);
  t.same(await reportersOf(storage, '198.51.100.42'), ['manager'], 'an org that is no user is the operator fleet');
  t.ok(ioc.reputation > 30, `one reporter alone cannot blocklist an address (${ioc.reputation})`);
});

onBothEngines('agents of orgs that are no user are one reporter, whatever the org names', async (t, engine) => {
  const { app, storage, lookup, tc } = await platform(t, engine);
  const first = await register(app, { hostname: 'edge-1', org_id: 'acme' });
  const second = await register(app, { hostname: 'edge-9', org_id: 'globex' });
  for (const agent of [first, second]) {
    t.equal((await post(app, agent.id, [event({ severity: 'critical', confidence: 0.9, details: { source_ip: '198.51.100.77' } })])).statusCode, 201);
  }
  const ioc = await lookup('198.51.100.77');
  t.equal(ioc.reputationFactors.reports, 2);
  t.equal(ioc.reputationFactors.reporters, 1, 'two orgs of the operator fleet are one reporter');
  t.same(await reportersOf(storage, '198.51.100.77'), ['manager']);
  t.ok(ioc.reputation > 30, `not corroborated: ${ioc.reputation}`);
  const blocklist = await tc.app.inject({ url: '/api/feeds/ip-blocklist', headers: authHeader(BOOTSTRAP_KEY) });
  t.notMatch(blocklist.body, /^198\.51\.100\.77$/m);
});

onBothEngines('an agent in a user org reports as that user, the same reporter as their keys', async (t, engine) => {
  const { app, storage, lookup, tc } = await platform(t, engine);
  const owner = await userKeyOn(storage, tc.clock, 'pro');
  const agent = await register(app, { hostname: 'own-1', org_id: owner.userId });
  t.equal((await post(app, agent.id, [event({ severity: 'critical', confidence: 0.9, details: { sourceIp: '198.51.100.90' } })])).statusCode, 201);
  t.same(await reportersOf(storage, '198.51.100.90'), [`user:${owner.userId}`]);
  const upload = await tc.inject({ method: 'POST', url: '/api/threats', key: owner.key, payload: { threats: [threat('198.51.100.90', { severity: 'critical', confidence: 0.9 })] } });
  t.equal(upload.statusCode, 201, upload.body);
  const ioc = await lookup('198.51.100.90');
  t.equal(ioc.reputationFactors.reports, 2);
  t.equal(ioc.reputationFactors.reporters, 1, "the user's key and the user's agent are one reporter");
  t.same(await reportersOf(storage, '198.51.100.90'), [`user:${owner.userId}`]);
});

onBothEngines('sightings of fleet reports show the event type only: no event, agent or org id', async (t, engine) => {
  const { app, storage, tc } = await platform(t, engine);
  const owner = await userKeyOn(storage, tc.clock, 'pro');
  const agents = [await register(app, { hostname: 'tenant-a', org_id: 'org-tenant-a' }), await register(app, { hostname: 'tenant-b', org_id: owner.userId })];
  const eventIds: string[] = [];
  for (const agent of agents) {
    const res = await post(app, agent.id, [event({ type: 'port_scan', details: { sourceIp: '203.0.113.66' } })]);
    t.equal(res.statusCode, 201);
    eventIds.push(...(res.json().data.eventIds as string[]));
  }
  const reader = await operatorKeyOn(storage, tc.clock, 'community', ['read']);
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
  const stored = (await selectRows<{ context: string }>(storage, `SELECT context FROM sightings`)).map((row) => row.context);
  t.same(stored, [JSON.stringify({ type: 'port_scan' }), JSON.stringify({ type: 'port_scan' })], 'nothing more is stored either');
});

onBothEngines('every source key is read, and categories follow the event type', async (t, engine) => {
  const { app, lookup } = await platform(t, engine);
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

onBothEngines('private, loopback, link-local and reserved sources are never reported', async (t, engine) => {
  const { app, storage } = await platform(t, engine);
  const agent = await register(app, { org_id: 'acme' });
  const sources = ['10.1.2.3', '192.168.1.1', '172.16.0.9', '127.0.0.1', '169.254.1.1', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fc00::1', '224.0.0.1', 'not an ip'];
  const res = await post(app, agent.id, sources.map((ip) => event({ details: { sourceIp: ip } })));
  t.equal(res.statusCode, 201);
  t.equal(await countIn(storage, 'iocs'), 0);
});

onBothEngines('a refused batch reports nothing to the Threat Cloud', async (t, engine) => {
  const { app, storage } = await platform(t, engine);
  const agent = await register(app, { org_id: 'acme' });
  const res = await post(app, agent.id, [event({ details: { sourceIp: '198.51.100.5' } }), event({ severity: 'catastrophic' })]);
  t.equal(res.statusCode, 400);
  t.equal(await countIn(storage, 'iocs'), 0);
  t.equal(await countIn(storage, 'threat_events'), 0);
});

onBothEngines('guard_endpoints: agents of a user org count against the owner tier', async (t, engine) => {
  const { app, storage } = await platform(t, engine);
  await seedUserIn(storage, { id: 'usr_owner', tier: 'community' });
  const first = await register(app, { hostname: 'one', org_id: 'usr_owner' });
  const second = await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload: { hostname: 'two', os: 'linux', version: '1', org_id: 'usr_owner' } });
  t.equal(second.statusCode, 403);
  t.same(second.json(), { ok: false, error: 'Quota exceeded for guard_endpoints on the community tier', code: 'FORBIDDEN' });
  t.equal(await countIn(storage, 'agents'), 1, 'nothing stored');
  const again = await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload: { hostname: 'one', os: 'linux', version: '1', org_id: 'usr_owner' } });
  t.equal(again.statusCode, 200, 're-registering an existing hostname never counts again');
  await execute(storage, `UPDATE users SET tier = 'solo' WHERE id = 'usr_owner'`);
  t.equal((await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload: { hostname: 'two', os: 'linux', version: '1', org_id: 'usr_owner' } })).statusCode, 201, 'a higher tier has room');
  t.equal((await app.inject({ method: 'DELETE', url: `/api/agents/${first.id}`, headers: OPERATOR })).statusCode, 200);
  for (const hostname of ['x', 'y', 'z']) await register(app, { hostname, org_id: 'not-a-user' });
  t.equal(await countIn(storage, 'agents'), 4, 'an org that is no user has no quota');
});
