import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { tempDir } from '../helper.js';
import { request, startServerProcess, type ServerProcess } from '../process.js';

/**
 * Crash safety: several clients stream writes; the process is killed with SIGKILL at a
 * random moment; it restarts on the same files. Every write that got a 2xx must be there,
 * and the file must pass PRAGMA integrity_check — round after round.
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

t.test(`acknowledged writes survive ${ROUNDS} kill -9 rounds`, async (t) => {
  const dataDir = tempDir(t);
  const ack: Acknowledged = { agents: [], events: [], iocs: [], users: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const server = await startServerProcess(dataDir, ENV);
    t.teardown(() => server.stop('SIGKILL'));
    await server.waitHealthy(30_000);
    const managerToken = (JSON.parse((await import('node:fs')).readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { managerAuthToken: string }).managerAuthToken;
    let stopped = false;
    const lanes = Array.from({ length: 4 }, (_, lane) => writer(server, round, lane, managerToken, ack, () => stopped));
    await new Promise((resolve) => setTimeout(resolve, 800 + Math.random() * 1500));
    const killed = await server.stop('SIGKILL');
    stopped = true;
    await Promise.all(lanes);
    t.equal(killed.signal, 'SIGKILL', `round ${round}: killed mid-write`);
  }
  t.ok(ack.agents.length > 0 && ack.events.length > 0 && ack.iocs.length > 0 && ack.users.length > 0, `writes were acknowledged: ${ack.agents.length} agents, ${ack.events.length} events, ${ack.iocs.length} IoCs, ${ack.users.length} users`);

  // One more clean start proves the files open and migrate after the last crash.
  const last = await startServerProcess(dataDir, ENV);
  t.teardown(() => last.stop('SIGKILL'));
  await last.waitHealthy(30_000);
  t.equal((await last.stop('SIGTERM')).code, 0);

  const db = new Database(path.join(dataDir, 'panguard.db'), { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'integrity_check');
  const missing = (sql: string, values: string[]) => {
    const statement = db.prepare(sql);
    return values.filter((v) => statement.get(v) === undefined);
  };
  t.same(missing('SELECT 1 FROM agents WHERE id = ?', ack.agents), [], 'every acknowledged agent');
  t.same(missing('SELECT 1 FROM threat_events WHERE id = ?', ack.events), [], 'every acknowledged event');
  t.same(missing(`SELECT 1 FROM iocs WHERE type = 'domain' AND value = ?`, ack.iocs), [], 'every acknowledged IoC');
  t.same(missing('SELECT 1 FROM users WHERE email = ?', ack.users), [], 'every acknowledged user');
});
