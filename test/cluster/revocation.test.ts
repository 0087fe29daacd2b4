/**
 * Credentials revoked on one replica die on every replica at the very next request (PostgreSQL,
 * several apps over one database, each with its own pool and its own caches): a Threat Cloud
 * API key verified and cached everywhere, and a Manager agent token.
 */
import t, { type Test } from 'tap';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { storageOn } from '../engines.js';
import { buildManager, OPERATOR, register } from '../manager/fixtures.js';
import { ADMIN, buildThreatCloud, postgresUrlOf } from '../threat-cloud/fixtures.js';

const REPLICAS = 3;

/** Pools on one fresh PostgreSQL database, as replicas would open them. */
async function pools(t: Test): Promise<Storage[]> {
  const first = (await storageOn('postgres'))!;
  const url = await postgresUrlOf(first);
  const all = [first];
  for (let i = 1; i < REPLICAS; i++) all.push(await openPostgresStorage({ connectionString: url, poolSize: 4, statementTimeoutMs: 30_000, ssl: false }));
  return all;
}

t.test('a Threat Cloud key revoked on one replica is refused by the others at the next request', async (t) => {
  const replicas = [];
  for (const storage of await pools(t)) replicas.push(await buildThreatCloud(t, { storage }));
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
  const replicas = [];
  for (const storage of await pools(t)) replicas.push((await buildManager(t, { storage })).app);
  const agent = await register(replicas[0]!, { hostname: 'leaving' });
  const beat = (i: number) => replicas[i]!.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { status: 'online' } });
  for (let i = 0; i < REPLICAS; i++) t.equal((await beat(i)).statusCode, 200, `replica ${i + 1} knows the token`);

  const removed = await replicas[1]!.inject({ method: 'DELETE', url: `/api/agents/${agent.id}`, headers: OPERATOR });
  t.equal(removed.statusCode, 200, removed.body);
  for (let i = 0; i < REPLICAS; i++) t.equal((await beat(i)).statusCode, 401, `replica ${i + 1}: the token is refused at once`);
});
