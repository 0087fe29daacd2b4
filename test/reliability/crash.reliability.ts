import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { readClusterSecret } from '../../src/shared/cluster-secrets.js';
import { tempDir } from '../helper.js';
import { request, startServerProcess, type ServerProcess } from '../process.js';
import { ENGINES, missingAmong, processDatabase } from './process-database.js';

/**
 * Crash safety: several clients stream writes; the process is killed with SIGKILL at a
 * random moment; it restarts on the same files. Every write that got a 2xx must be there,
 * and the file must pass PRAGMA integrity_check — round after round. On PostgreSQL the server
 * outlives the process: what matters there is that nothing is acknowledged before its commit.
 */
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 5);
const TC_KEY = `pgk_crash_${'c'.repeat(40)}`;
const ENV = { RATE_LIMIT_SCALE: '100000', TC_API_KEYS: TC_KEY, LOG_LEVEL: 'error' };

interface Acknowledged {
  agents: string[];
  events: string[];
  iocs: string[];
  users: string[];
}

async function writer(server: ServerProcess, round: number, lane: number, managerToken: string, ack: Acknowledged, stop: () => boolean): Promise<void> {
  const ca = server.managerCa();
  const json = (body: unknown) => JSON.stringify(body);
  for (let n = 0; !stop(); n++) {
    const tag = `r${round}-l${lane}-${n}`;
    try {
      const agent = await request(`${server.urls.manager}/api/agents/register`, {
        method: 'POST',
        ca,
        headers: { authorization: `Bearer ${managerToken}` },
        body: json({ hostname: `host-${tag}`, os: 'linux', version: '1.0.0', org_id: 'crash-org' }),
      });
      if (agent.status !== 201) continue;
      const agentId = (JSON.parse(agent.body) as { data: { id: string } }).data.id;
      ack.agents.push(agentId);
      const events = await request(`${server.urls.manager}/api/agents/${agentId}/events`, {
        method: 'POST',
        ca,
        headers: { authorization: `Bearer ${managerToken}` },
        body: json({ events: Array.from({ length: 20 }, (_, i) => ({ type: 'port_scan', severity: 'low', details: { n: i, tag } })) }),
      });
      if (events.status === 201) ack.events.push(...(JSON.parse(events.body) as { data: { eventIds: string[] } }).data.eventIds);
      const values = Array.from({ length: 10 }, (_, i) => `crash-${tag}-${i}.example.com`);
      const iocs = await request(`${server.urls.threatCloud}/api/threats`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TC_KEY}` },
        body: json({ threats: values.map((value) => ({ type: 'domain', value, source: 'crash-test', category: 'phishing' })) }),
      });
      if (iocs.status === 201) ack.iocs.push(...values);
      const email = `crash-${tag}@example.com`;
      const user = await request(`${server.urls.auth}/api/auth/register`, { method: 'POST', body: json({ email, name: 'Crash', password: 'correct horse battery staple' }) });
      if (user.status === 201) ack.users.push(email);
    } catch {
      // The process died under this request: it was never acknowledged.
    }
  }
}

for (const engine of ENGINES) {
  t.test(`acknowledged writes survive ${ROUNDS} kill -9 rounds (${engine})`, async (t) => {
    const dataDir = tempDir(t);
    const database = await processDatabase(t, engine, dataDir);
    const env = { ...ENV, ...database.env };
    const ack: Acknowledged = { agents: [], events: [], iocs: [], users: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const server = await startServerProcess(dataDir, env);
      t.teardown(() => server.stop('SIGKILL'));
      await server.waitHealthy(30_000);
      // On PostgreSQL the generated secrets are kept in the database, shared by every replica.
      const managerToken =
        database.engine === 'postgres'
          ? (await readClusterSecret(await database.open(), 'managerAuthToken'))!
          : (JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { managerAuthToken: string }).managerAuthToken;
      let stopped = false;
      const roundStarted = Date.now();
      const lanes = Array.from({ length: 4 }, (_, lane) => writer(server, round, lane, managerToken, ack, () => stopped));
      // The kill lands at a random moment after every kind of write was acknowledged once this
      // round, however long a loaded machine takes to get there.
      const usersBefore = ack.users.length;
      while (ack.users.length === usersBefore && Date.now() - roundStarted < 60_000) await sleep(20);
      await sleep(Math.random() * 1500);
      const killed = await server.stop('SIGKILL');
      stopped = true;
      await Promise.all(lanes);
      t.equal(killed.signal, 'SIGKILL', `round ${round}: killed mid-write`);
    }
    t.ok(ack.agents.length > 0 && ack.events.length > 0 && ack.iocs.length > 0 && ack.users.length > 0, `writes were acknowledged: ${ack.agents.length} agents, ${ack.events.length} events, ${ack.iocs.length} IoCs, ${ack.users.length} users`);

    // One more clean start proves the database opens and migrates after the last crash.
    const last = await startServerProcess(dataDir, env);
    t.teardown(() => last.stop('SIGKILL'));
    await last.waitHealthy(30_000);
    t.equal((await last.stop('SIGTERM')).code, 0);

    if (database.integrity) t.equal(database.integrity(), 'ok', 'integrity_check');
    const storage = await database.open();
    t.same(await missingAmong(storage, 'SELECT 1 FROM agents WHERE id = ?', ack.agents), [], 'every acknowledged agent');
    t.same(await missingAmong(storage, 'SELECT 1 FROM threat_events WHERE id = ?', ack.events), [], 'every acknowledged event');
    t.same(await missingAmong(storage, `SELECT 1 FROM iocs WHERE type = 'domain' AND value = ?`, ack.iocs), [], 'every acknowledged IoC');
    t.same(await missingAmong(storage, 'SELECT 1 FROM users WHERE email = ?', ack.users), [], 'every acknowledged user');
  });
}
