/**
 * Credentials revoked on one replica die on every replica at the very next request (PostgreSQL,
 * several apps over one database, each with its own pool and its own caches): a Threat Cloud
 * API key verified and cached everywhere, and a Manager agent token. And what replicas write
 * together: read audits of one key and minute merged into one entry.
 */
import t from 'tap';
import type { App } from '../../src/shared/base-app.js';
import { replicaStorages } from '../engines.js';
import { buildManager, OPERATOR, register } from '../manager/fixtures.js';
import { ADMIN, buildThreatCloud } from '../threat-cloud/fixtures.js';

const REPLICAS = 3;

type ThreatCloudReplica = Awaited<ReturnType<typeof buildThreatCloud>>;

t.test('a Threat Cloud key revoked on one replica is refused by the others at the next request', async (t) => {
  const replicas: ThreatCloudReplica[] = [];
  for (const storage of await replicaStorages(REPLICAS)) replicas.push(await buildThreatCloud(t, { storage }));
  const created = await replicas[0]!.inject({ method: 'POST', url: '/api/admin/keys', key: null, headers: ADMIN, payload: { name: 'siem', tier: 'pro', scopes: ['read'] } });
  t.equal(created.statusCode, 201, created.body);
  const { id, key } = created.json().data as { id: string; key: string };
  // Verified, and so cached, on every replica.
  for (const replica of replicas) t.equal((await replica.inject({ url: '/api/stats', key })).statusCode, 200);

  const revoked = await replicas[0]!.inject({ method: 'DELETE', url: `/api/admin/keys/${id}`, key: null, headers: ADMIN });
  t.equal(revoked.statusCode, 200, revoked.body);
  for (const [i, replica] of replicas.entries()) {
    const res = await replica.inject({ url: '/api/stats', key });
    t.equal(res.statusCode, 401, `replica ${i + 1}: the revoked key is refused at once`);
  }
});

t.test('an agent deregistered on one replica cannot send a heartbeat to another', async (t) => {
  const replicas: App[] = [];
  for (const storage of await replicaStorages(REPLICAS)) replicas.push((await buildManager(t, { storage })).app);
  const agent = await register(replicas[0]!, { hostname: 'leaving' });
  const beat = (i: number) => replicas[i]!.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { status: 'online' } });
  for (let i = 0; i < REPLICAS; i++) t.equal((await beat(i)).statusCode, 200, `replica ${i + 1} knows the token`);

  const removed = await replicas[1]!.inject({ method: 'DELETE', url: `/api/agents/${agent.id}`, headers: OPERATOR });
  t.equal(removed.statusCode, 200, removed.body);
  for (let i = 0; i < REPLICAS; i++) t.equal((await beat(i)).statusCode, 401, `replica ${i + 1}: the token is refused at once`);
});

t.test('lookups on three replicas add up in one query audit entry per key and minute', async (t) => {
  const replicas: ThreatCloudReplica[] = [];
  for (const storage of await replicaStorages(REPLICAS)) replicas.push(await buildThreatCloud(t, { storage }));
  const stored = await replicas[0]!.inject({ method: 'POST', url: '/api/threats', payload: { threats: [{ type: 'ip', value: '198.51.100.77', source: 'honeypot' }] } });
  t.equal(stored.statusCode, 201, stored.body);
  for (const replica of replicas) {
    for (let i = 0; i < 5; i++) t.equal((await replica.inject({ url: '/api/iocs/198.51.100.77' })).statusCode, 200);
  }
  // Each replica writes what it buffered when the audit log is read through it.
  let entries: Array<{ resource: string; details: { count: number } }> = [];
  for (const replica of replicas) {
    const res = await replica.inject({ url: '/api/audit-log?action=query&limit=200' });
    t.equal(res.statusCode, 200, res.body);
    entries = res.json().data;
  }
  t.same(entries.map((entry) => [entry.resource, entry.details.count]), [['iocs', 15]], 'one entry: the three replicas\' reads merged, none lost');
});
