/**
 * Three replicas of the built process over one PostgreSQL database and one Redis, behind the
 * shipped HAProxy configuration, as a deployment that outgrew one machine runs them: limits
 * are one budget, the live stream is one stream (also after the replica a client was on is
 * killed), a job's effect happens once, and races between replicas answer as one process would.
 */
import http from 'node:http';
import https from 'node:https';
import pg from 'pg';
import t from 'tap';
import { TEST_SECRETS, tempDir } from '../helper.js';
import { startHaproxy, writeSelfSignedPem } from '../haproxy.js';
import { startRedis } from '../redis.js';
import { parseFrames } from '../manager/sse-client.js';
import { balancerEnv, bearer, call, CONFIG_FILE, data, startReplicas, until } from './balanced.js';

t.setTimeout(300_000);

const OPERATOR = bearer(TEST_SECRETS.managerAuthToken);
const TC_KEY = 'tc-cluster-bootstrap-key-0123456789abcdefghijklmnop';

interface StreamFrame {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** A live-stream client on a Manager URL (plain HTTP: TLS ends at the balancer), collecting named events. */
function streamFrom(base: string) {
  const frames: StreamFrame[] = [];
  let buffer = '';
  const request = http.get(`${base}/api/events/stream`, { headers: OPERATOR, agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const parsed = parseFrames(buffer + chunk);
      buffer = parsed.rest;
      for (const frame of parsed.frames) if (frame.event) frames.push(frame as StreamFrame);
    });
  });
  request.on('error', () => {});
  return { frames, close: () => request.destroy(), named: () => frames.filter((frame) => frame.event !== 'connected') };
}

t.test('three replicas with Redis behind the shipped HAProxy configuration', async (t) => {
  const redis = await startRedis(t);
  const { replicas, databaseUrl } = await startReplicas(t, 3, {
    REDIS_URL: redis.url,
    TC_API_KEYS: TC_KEY,
    RATE_LIMIT_SCALE: '1',
    MANAGER_RATE_LIMIT: '60',
    AUTH_RATE_LIMIT: '100000',
    // An agent is offline two seconds after its last heartbeat: the sweep runs every half second.
    MANAGER_HEARTBEAT_TIMEOUT_MS: '1000',
    MANAGER_OFFLINE_TIMEOUT_MS: '2000',
  });
  const dir = tempDir(t);
  const { pemFile, cert: ca } = await writeSelfSignedPem(dir);
  const { env, ports } = await balancerEnv(dir, pemFile, replicas);
  const balancer = await startHaproxy(t, { configFile: CONFIG_FILE, env, ports: [ports.auth, ports.threatCloud, ports.manager] });
  t.teardown(() => {
    if (t.passing()) return;
    t.comment(`haproxy output:\n${balancer.output()}`);
    replicas.forEach((replica, i) => t.comment(`replica ${i + 1} output:\n${replica.output()}`));
  });
  const direct = replicas.map((replica) => ({
    manager: `http://127.0.0.1:${replica.ports.manager}`,
    auth: `http://127.0.0.1:${replica.ports.auth}`,
    threatCloud: `http://127.0.0.1:${replica.ports.threatCloud}`,
  }));
  const balancedAuth = `http://127.0.0.1:${ports.auth}`;
  const database = new pg.Client({ connectionString: databaseUrl });
  await database.connect();
  t.teardown(() => database.end());
  const rows = async <T>(sql: string, params: unknown[] = []) => (await database.query(sql, params)).rows as T[];

  await t.test('61 Manager requests spread over the replicas: the 61st is 429 with Retry-After', async (t) => {
    // From an address of its own, so the other steps' requests keep their budget.
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 61; i++) {
      last = await call(`${direct[i % 3]!.manager}/api/agents`, { headers: { ...OPERATOR }, from: '127.0.0.3' });
      statuses.push(last.status);
    }
    t.same(statuses.slice(0, 60), Array(60).fill(200), 'sixty, twenty on each replica');
    t.equal(statuses[60], 429);
    t.match(JSON.parse(last!.body), { ok: false, code: 'RATE_LIMITED' });
    t.ok(Number(last!.headers['retry-after']) > 0, 'Retry-After');
  });

  await t.test('Threat Cloud: one IoC first reported on three replicas at once; a feed cursor walked during uploads on all of them', async (t) => {
    const tcKey = bearer(TC_KEY);
    const upload = (replica: number, values: string[]) =>
      call(`${direct[replica]!.threatCloud}/api/threats`, { method: 'POST', headers: tcKey, body: { threats: values.map((value) => ({ type: 'domain', value, source: 'cluster' })) } });
    const first = await Promise.all([0, 1, 2].map((replica) => upload(replica, ['raced.example.net'])));
    t.same(first.map((res) => res.status), [201, 201, 201]);
    t.same(await rows(`SELECT count(*)::int AS n, max(sightings)::int AS sightings FROM iocs WHERE value = 'raced.example.net'`), [{ n: 1, sightings: 3 }], 'one IoC, three sightings');

    // One reader on replica 1 walks the feed, page after page, while replicas 1, 2 and 3 upload new IoCs.
    const seen = new Map<string, number>();
    let cursor: string | null = null;
    const walk = async () => {
      for (;;) {
        const res = await call(`${direct[0]!.threatCloud}/api/feeds/iocs?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: tcKey });
        t.equal(res.status, 200, res.body);
        const page = data<{ iocs: Array<{ value: string }>; nextCursor: string }>(res);
        for (const ioc of page.iocs) seen.set(ioc.value, (seen.get(ioc.value) ?? 0) + 1);
        cursor = page.nextCursor;
        if (page.iocs.length === 0) return;
      }
    };
    const uploaded: string[] = [];
    const writers = [0, 1, 2].map(async (replica) => {
      for (let batch = 0; batch < 6; batch++) {
        const values = Array.from({ length: 8 }, (_, i) => `feed-${replica}-${batch}-${i}.example.net`);
        const res = await upload(replica, values);
        t.equal(res.status, 201, res.body);
        uploaded.push(...values);
      }
    });
    let writing = true;
    const reader = (async () => {
      while (writing) {
        await walk();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await Promise.all(writers);
    writing = false;
    await reader;
    await walk();
    const missing = uploaded.filter((value) => !seen.has(value));
    const twice = [...seen].filter(([, n]) => n > 1).map(([value]) => value);
    t.same(missing, [], `every one of ${uploaded.length} new IoCs reached the cursor`);
    t.same(twice, [], 'none twice');
  });

  await t.test('races between replicas answer as one process would', async (t) => {
    const same = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        call(`${direct[i % 3]!.manager}/api/agents/register`, { method: 'POST', headers: OPERATOR, body: { hostname: 'raced-host', os: 'linux', version: '1.0.0', ip: '10.1.1.3' } }),
      ),
    );
    t.ok(same.every((res) => res.status === 200 || res.status === 201), same.map((res) => res.status).join(','));
    t.same(await rows(`SELECT count(*)::int AS n FROM agents WHERE hostname = 'raced-host'`), [{ n: 1 }], 'one agent for one hostname');

    const firsts = await Promise.all(
      ['first-a@example.com', 'first-b@example.com'].map((email, i) =>
        call(`${direct[i]!.auth}/api/auth/register`, { method: 'POST', body: { email, name: 'First', password: 'Replicated-Admin-Passphrase-9' } }),
      ),
    );
    t.same(firsts.map((res) => res.status), [201, 201]);
    t.same(await rows(`SELECT count(*)::int AS n FROM users WHERE role = 'admin'`), [{ n: 1 }], 'two first registrations, one admin');

    const versions = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        call(`${direct[i % 3]!.manager}/api/policy`, { method: 'POST', headers: OPERATOR, body: { name: `race-${i}`, rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } }),
      ),
    );
    const numbers = versions.map((res) => data<{ version: string }>(res).version);
    t.equal(new Set(numbers).size, 6, `distinct versions: ${numbers.join(', ')}`);

    const login = await call(`${balancedAuth}/api/auth/login`, { method: 'POST', body: { email: 'first-a@example.com', password: 'Replicated-Admin-Passphrase-9' } });
    t.equal(login.status, 200, 'and the account logs in through the balancer');
  });

  await t.test('a Threat Cloud key\'s limit, the anonymous limit and the login lockout hold across the replicas', async (t) => {
    const password = 'Replicated-Admin-Passphrase-9';
    const login = await call(`${direct[0]!.auth}/api/auth/login`, { method: 'POST', body: { email: 'first-b@example.com', password } });
    t.equal(login.status, 200, login.body);
    const created = await call(`${direct[1]!.auth}/api/auth/api-keys`, { method: 'POST', headers: bearer(data<{ token: string }>(login).token), body: { name: 'siem' } });
    t.equal(created.status, 201, created.body);
    const key = data<{ key: string; tier: string }>(created);
    t.equal(key.tier, 'community', 'sixty requests a minute');
    const keyed: number[] = [];
    let last;
    for (let i = 0; i < 61; i++) {
      last = await call(`${direct[i % 3]!.threatCloud}/api/iocs?limit=1`, { headers: bearer(key.key) });
      keyed.push(last.status);
    }
    t.same(keyed, [...Array(60).fill(200), 429], 'the key\'s 61st request, wherever it lands');
    t.ok(Number(last!.headers['retry-after']) > 0, 'Retry-After');

    const anonymous: number[] = [];
    for (let i = 0; i < 31; i++) anonymous.push((await call(`${direct[i % 3]!.threatCloud}/api/iocs`, { headers: bearer(`not-a-key-${i}`), from: '127.0.0.4' })).status);
    t.same(anonymous, [...Array(30).fill(401), 429], '30 unknown keys a minute per address, over the replicas');

    const attempts: number[] = [];
    for (let i = 0; i < 5; i++) attempts.push((await call(`${direct[i % 3]!.auth}/api/auth/login`, { method: 'POST', body: { email: 'first-a@example.com', password: 'wrong password' }, from: '127.0.0.5' })).status);
    t.same(attempts, Array(5).fill(401));
    const locked = await call(`${direct[2]!.auth}/api/auth/login`, { method: 'POST', body: { email: 'first-a@example.com', password }, from: '127.0.0.5' });
    t.equal(locked.status, 429, 'five failures over three replicas lock the account for that address, the right password too');
  });

  await t.test('one stream: events caused on B and C reach a client on A in order; after A is killed, Last-Event-ID through the balancer replays what was missed', async (t) => {
    const onA = streamFrom(direct[0]!.manager);
    t.teardown(() => onA.close());
    await until('A streaming', async () => onA.frames.length, (n) => n >= 1);

    const registered = await call(`${direct[1]!.manager}/api/agents/register`, { method: 'POST', headers: OPERATOR, body: { hostname: 'stream-host', os: 'linux', version: '1.0.0', ip: '10.1.1.1' } });
    t.equal(registered.status, 201, registered.body);
    const agent = data<{ id: string; agentToken: string }>(registered);
    const reported = await call(`${direct[2]!.manager}/api/agents/${agent.id}/events`, { method: 'POST', headers: bearer(agent.agentToken), body: { events: [{ type: 'brute_force', severity: 'high', details: { attempts: 3 } }] } });
    t.equal(reported.status, 201, reported.body);
    const policy = await call(`${direct[1]!.manager}/api/policy`, { method: 'POST', headers: OPERATOR, body: { name: 'one', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
    t.equal(policy.status, 201, policy.body);
    await until('three events on A', async () => onA.named().map((frame) => frame.event), (events) => events.includes('policy_created'));
    const seen = onA.named().filter((frame) => ['agent_online', 'threats_reported', 'policy_created'].includes(frame.event));
    t.same(seen.map((frame) => frame.event), ['agent_online', 'threats_reported', 'policy_created'], 'in the order they happened');
    t.ok(seen.every((frame, i) => i === 0 || frame.id > seen[i - 1]!.id), 'increasing ids');
    const lastSeen = onA.named().at(-1)!.id;

    await replicas[0]!.stop('SIGKILL');
    onA.close();
    const missed: string[] = [];
    for (const name of ['two', 'three']) {
      const res = await call(`${direct[2]!.manager}/api/policy`, { method: 'POST', headers: OPERATOR, body: { name, rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
      t.equal(res.status, 201, res.body);
      missed.push(data<{ version: string }>(res).version);
    }
    // Through the balancer, over its TLS: whichever live replica it picks replays from the shared table.
    const resumed = await new Promise<string>((resolve, reject) => {
      const req = https.get(`https://localhost:${ports.manager}/api/events/stream`, { headers: { ...OPERATOR, 'last-event-id': String(lastSeen) }, ca, agent: false }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          if ((text.match(/event: policy_created/g) ?? []).length >= 2) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.setTimeout(15_000, () => req.destroy(new Error('the replay did not come')));
      req.on('error', reject);
    });
    const replayed = [...resumed.matchAll(/id: (\d+)\nevent: (\w+)\ndata: (.*)\n/g)].filter((match) => match[2] !== 'connected');
    t.same(replayed.map((match) => JSON.parse(match[3]!).version), missed, 'exactly the two policies made while the client was away');
    t.ok(replayed.every((match) => Number(match[1]) > lastSeen), 'nothing it had already seen');
  });

  await t.test('an agent that stops sending heartbeats produces exactly one agent_offline', async (t) => {
    const registered = await call(`${direct[1]!.manager}/api/agents/register`, { method: 'POST', headers: OPERATOR, body: { hostname: 'goes-quiet', os: 'linux', version: '1.0.0', ip: '10.1.1.2' } });
    t.equal(registered.status, 201, registered.body);
    const { id } = data<{ id: string }>(registered);
    const offline = () => rows<{ n: string }>(`SELECT count(*) AS n FROM stream_events WHERE event = 'agent_offline' AND data::json->>'agentId' = $1`, [id]);
    // A sweep that was running on the replica killed above keeps its lease until it lapses
    // (DEFAULT_LEASE_MS, 30 s): that long at most the surviving replicas wait for the next one.
    await until('the agent marked offline', async () => Number((await offline())[0]!.n), (n) => n >= 1, 60_000);
    // Several more sweeps on both live replicas.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    t.equal(Number((await offline())[0]!.n), 1, 'one agent_offline, however many replicas sweep');
  });


});

t.test('a replica killed under mixed load: every acknowledged write is in PostgreSQL, clients go on through the balancer', async (t) => {
  const { replicas, databaseUrl } = await startReplicas(t, 3, { TC_API_KEYS: TC_KEY });
  const dir = tempDir(t);
  const { pemFile, cert: ca } = await writeSelfSignedPem(dir);
  const { env, ports } = await balancerEnv(dir, pemFile, replicas);
  const balancer = await startHaproxy(t, { configFile: CONFIG_FILE, env, ports: [ports.auth, ports.threatCloud, ports.manager] });
  t.teardown(() => {
    if (!t.passing()) t.comment(`haproxy output:\n${balancer.output()}`);
  });
  const urls = { auth: `http://127.0.0.1:${ports.auth}`, threatCloud: `http://127.0.0.1:${ports.threatCloud}`, manager: `https://localhost:${ports.manager}` };
  const database = new pg.Client({ connectionString: databaseUrl });
  await database.connect();
  t.teardown(() => database.end());

  const password = 'Replicated-Load-Passphrase-4';
  t.equal((await call(`${urls.auth}/api/auth/register`, { method: 'POST', body: { email: 'load@example.com', name: 'Load', password } })).status, 201);
  const registered = await call(`${urls.manager}/api/agents/register`, { method: 'POST', headers: OPERATOR, body: { hostname: 'under-load', os: 'linux', version: '1.0.0', ip: '10.2.0.1' }, ca });
  t.equal(registered.status, 201, registered.body);
  const agent = data<{ id: string; agentToken: string }>(registered);

  interface Outcome { kind: string; started: number; ended: number; status: number | null; written?: string[] }
  const outcomes: Outcome[] = [];
  let sequence = 0;
  const tcKey = bearer(TC_KEY);
  const kinds: Record<string, () => Promise<{ status: number; written?: string[] }>> = {
    heartbeat: async () => call(`${urls.manager}/api/agents/${agent.id}/heartbeat`, { method: 'POST', headers: bearer(agent.agentToken), body: { status: 'online' }, ca }),
    'event batch': async () => {
      const reply = await call(`${urls.manager}/api/agents/${agent.id}/events`, { method: 'POST', headers: bearer(agent.agentToken), body: { events: [{ type: 'port_scan', severity: 'low', details: { n: ++sequence } }, { type: 'port_scan', severity: 'medium', details: { n: sequence } }] }, ca });
      return { status: reply.status, ...(reply.status === 201 ? { written: data<{ eventIds: string[] }>(reply).eventIds } : {}) };
    },
    'IoC upload': async () => {
      const n = ++sequence;
      const values = [0, 1, 2].map((i) => `load-${n}-${i}.example.net`);
      const reply = await call(`${urls.threatCloud}/api/threats`, { method: 'POST', headers: tcKey, body: { threats: values.map((value) => ({ type: 'domain', value, source: 'load' })) } });
      return { status: reply.status, ...(reply.status === 201 ? { written: values } : {}) };
    },
    lookup: async () => call(`${urls.threatCloud}/api/iocs/load-1-0.example.net`, { headers: tcKey }),
    login: async () => call(`${urls.auth}/api/auth/login`, { method: 'POST', body: { email: 'load@example.com', password } }),
  };
  let running = true;
  const worker = async (kind: string) => {
    while (running) {
      const started = performance.now();
      try {
        const result = await kinds[kind]!();
        outcomes.push({ kind, started, ended: performance.now(), status: result.status, ...(result.written ? { written: result.written } : {}) });
      } catch {
        outcomes.push({ kind, started, ended: performance.now(), status: null });
      }
    }
  };
  const workers = Object.keys(kinds).map((kind) => worker(kind));
  const done = (after: number) => Object.keys(kinds).map((kind) => outcomes.filter((o) => o.kind === kind && o.started >= after && o.status !== null).length);
  try {
    await until('load on every kind', async () => done(0), (counts) => counts.every((n) => n >= 3));
    await replicas[1]!.stop('SIGKILL');
    const killed = performance.now();
    await until('load goes on after the kill', async () => done(killed), (counts) => counts.every((n) => n >= 5));
  } finally {
    running = false;
    await Promise.all(workers);
  }
  const ok = (o: Outcome) => o.status !== null && o.status >= 200 && o.status < 300;
  // Only a request in flight on the killed replica may fail, and only as the balancer reports a dead server.
  const failed = outcomes.filter((o) => !ok(o));
  t.ok(failed.every((o) => o.status === 502 || o.status === null), `failures: ${JSON.stringify(failed)}`);
  t.ok(failed.length <= Object.keys(kinds).length, `at most one in-flight request per client lost: ${failed.length}`);
  t.ok(outcomes.every((o) => o.status === null || o.status < 500 || o.status === 502), 'no other 5xx');

  const events = outcomes.flatMap((o) => (o.kind === 'event batch' && o.written ? o.written : []));
  const iocs = outcomes.flatMap((o) => (o.kind === 'IoC upload' && o.written ? o.written : []));
  const storedEvents = (await database.query<{ id: string }>('SELECT id FROM threat_events WHERE id = ANY($1)', [events])).rows.length;
  const storedIocs = (await database.query<{ value: string }>(`SELECT value FROM iocs WHERE type = 'domain' AND value = ANY($1)`, [iocs])).rows.length;
  t.equal(storedEvents, events.length, `all ${events.length} acknowledged events are stored`);
  t.equal(storedIocs, iocs.length, `all ${iocs.length} acknowledged IoCs are stored`);
});
