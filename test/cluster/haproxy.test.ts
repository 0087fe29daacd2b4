/**
 * The shipped deploy/haproxy.cfg, unedited (only its environment variables set), in front of
 * two replicas of the built process over one PostgreSQL: every service answers through it
 * (the Manager over HTTPS ending at HAProxy), a token works on whichever replica a request
 * lands on, the client's address reaches the app through X-Forwarded-For, and a replica
 * killed with SIGKILL costs no request a client makes afterwards.
 */
import https from 'node:https';
import t from 'tap';
import { TEST_SECRETS, tempDir } from '../helper.js';
import { checkHaproxyConfig, haproxyStats, startHaproxy, writeSelfSignedPem, type StatRow } from '../haproxy.js';
import { BACKENDS, balancerEnv, bearer, call, CONFIG_FILE, data, servers, startReplicas, until, type Reply } from './balanced.js';
const PASSWORD = 'Balanced-Replicas-Passphrase-7';
/** A second loopback address: a client there is not the balancer, as a remote client would not be. */
const CLIENT_ADDRESS = '127.0.0.2';

t.setTimeout(300_000);

t.test('two replicas behind the shipped HAProxy configuration', async (t) => {
  const { replicas } = await startReplicas(t, 2);
  const dir = tempDir(t);
  const { pemFile, cert: ca } = await writeSelfSignedPem(dir);
  const { env, ports, socket } = await balancerEnv(dir, pemFile, replicas);

  await t.test('haproxy -c accepts the file with its variables set, and names a missing replica', async (t) => {
    const valid = await checkHaproxyConfig(CONFIG_FILE, env);
    t.ok(valid.valid, valid.output);
    t.match(valid.output, /Configuration file is valid/);
    const { PANGUARD_REPLICA_1: _first, ...withoutReplicas } = env;
    const refused = await checkHaproxyConfig(CONFIG_FILE, withoutReplicas);
    t.notOk(refused.valid, 'no replica named: refused rather than balancing to nothing');
    t.match(refused.output, /PANGUARD_REPLICA_1 is not set/);
  });

  const balancer = await startHaproxy(t, { configFile: CONFIG_FILE, env, ports: [ports.auth, ports.threatCloud, ports.manager] });
  t.teardown(() => {
    if (t.passing()) return;
    t.comment(`haproxy output:\n${balancer.output()}`);
    replicas.forEach((replica, i) => t.comment(`replica ${i + 1} output:\n${replica.output()}`));
  });
  const urls = {
    auth: `http://127.0.0.1:${ports.auth}`,
    threatCloud: `http://127.0.0.1:${ports.threatCloud}`,
    // The name the balancer's certificate is made for; verified against it alone.
    manager: `https://localhost:${ports.manager}`,
  };

  await t.test('/health of every service answers through the balancer, the Manager over verified HTTPS', async (t) => {
    const healths = await Promise.all([call(`${urls.auth}/health`), call(`${urls.threatCloud}/health`), call(`${urls.manager}/health`, { ca })]);
    t.same(healths.map((reply) => reply.status), [200, 200, 200]);
    t.same(healths.map((reply) => data<{ engine: string }>(reply).engine), ['postgres', 'postgres', 'postgres']);
    await t.rejects(call(`${urls.manager}/health`), 'a client that does not trust the balancer certificate is refused');
    // HAProxy starts a server as "UP 1/2" (assumed up, one failed check from DOWN); a
    // passing GET /health check makes it "UP". A check the replicas failed would go DOWN.
    const statuses = await until(
      'every replica passing its health checks',
      async () => {
        const stats = await haproxyStats(socket);
        return BACKENDS.map((backend) => [...servers(stats, backend).values()].map((row) => row.status ?? ''));
      },
      (all) => all.every((backend) => backend.length === 2 && backend.every((status) => status === 'UP' || status.startsWith('DOWN'))),
    );
    t.same(statuses, [['UP', 'UP'], ['UP', 'UP'], ['UP', 'UP']], 'both replicas pass the check in the auth, threat cloud and manager backends');
  });

  let token = '';
  await t.test('a token from one replica is accepted by the other', async (t) => {
    const registered = await call(`${urls.auth}/api/auth/register`, { method: 'POST', body: { email: 'admin@example.com', name: 'Admin', password: PASSWORD } });
    t.equal(registered.status, 201, registered.body);
    const login = await call(`${urls.auth}/api/auth/login`, { method: 'POST', body: { email: 'admin@example.com', password: PASSWORD } });
    t.equal(login.status, 200, login.body);
    token = data<{ token: string }>(login).token;

    const served = (stats: StatRow[]) => [...servers(stats, 'auth').values()].map((row) => Number(row.hrsp_2xx));
    const before = served(await haproxyStats(socket));
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await call(`${urls.auth}/api/auth/me`, { headers: bearer(token) }));
    t.same(replies.map((reply) => reply.status), [200, 200, 200, 200, 200, 200], 'every request is answered');
    t.ok(replies.every((reply) => data<{ email: string }>(reply).email === 'admin@example.com'), 'as the same user');
    const after = served(await haproxyStats(socket));
    t.same(after.map((count, i) => count - before[i]!), [3, 3], 'round robin: each replica answered three of the six');

    const manager = await call(`${urls.manager}/api/overview`, { headers: bearer(TEST_SECRETS.managerAuthToken), ca });
    t.equal(manager.status, 200, 'the Manager token works through the balancer too');
  });

  await t.test('the live event stream flows through the balancer', async (t) => {
    // Server-sent events over HTTPS ending at HAProxy: the first event arrives while the
    // response is still open, so nothing between client and replica buffers the stream.
    const first = await new Promise<string>((resolve, reject) => {
      const req = https.get(`${urls.manager}/api/events/stream`, { headers: bearer(TEST_SECRETS.managerAuthToken), ca, agent: false, timeout: 15_000 }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          if (text.includes('\n\n')) {
            req.destroy();
            resolve(`${res.statusCode} ${String(res.headers['content-type'])}\n${text}`);
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no event within 15 s')));
      req.on('error', reject);
    });
    t.match(first, /^200 text\/event-stream/);
    t.match(first, /event: connected\n/);
  });

  await t.test("the client's address reaches the app through X-Forwarded-For, and only the balancer may set it", async (t) => {
    const sessionIp = async (from: string, headers: Record<string, string> = {}) => {
      const login = await call(`${urls.auth}/api/auth/login`, { method: 'POST', body: { email: 'admin@example.com', password: PASSWORD }, from, headers });
      t.equal(login.status, 200, login.body);
      const own = data<{ token: string }>(login).token;
      const sessions = await call(`${urls.auth}/api/auth/sessions`, { headers: bearer(own) });
      t.equal(sessions.status, 200, sessions.body);
      return data<Array<{ ip: string | null; current: boolean }>>(sessions).find((session) => session.current)?.ip;
    };
    // The replicas see every connection from 127.0.0.1 (the balancer): without the header the
    // session would record that address.
    t.equal(await sessionIp(CLIENT_ADDRESS), CLIENT_ADDRESS, 'the session records the client address, not the balancer');
    t.equal(await sessionIp(CLIENT_ADDRESS, { 'x-forwarded-for': '203.0.113.9' }), CLIENT_ADDRESS, 'a remote client cannot choose its address');
    // A client on the balancer's own address is trusted by TRUST_PROXY=127.0.0.1; only
    // the balancer dropping the header it sent keeps its claim out.
    t.equal(await sessionIp('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }), '127.0.0.1', 'a forged header is dropped at the balancer');
  });

  await t.test('a replica killed with SIGKILL: every request made afterwards succeeds', async (t) => {
    interface Outcome {
      kind: string;
      started: number;
      ended: number;
      status: number | null;
      error?: string;
    }
    const outcomes: Outcome[] = [];
    const kinds: Record<string, () => Promise<Reply>> = {
      'auth GET /api/auth/me': () => call(`${urls.auth}/api/auth/me`, { headers: bearer(token) }),
      'auth POST /api/auth/login': () => call(`${urls.auth}/api/auth/login`, { method: 'POST', body: { email: 'admin@example.com', password: PASSWORD } }),
      'manager GET /api/overview': () => call(`${urls.manager}/api/overview`, { headers: bearer(TEST_SECRETS.managerAuthToken), ca }),
      'threat cloud GET /health': () => call(`${urls.threatCloud}/health`),
    };
    let running = true;
    const worker = async (kind: string) => {
      while (running) {
        const started = performance.now();
        try {
          const reply = await kinds[kind]!();
          outcomes.push({ kind, started, ended: performance.now(), status: reply.status });
        } catch (error) {
          outcomes.push({ kind, started, ended: performance.now(), status: null, error: (error as Error).message });
        }
      }
    };
    const workers = Object.keys(kinds).map((kind) => worker(kind));
    const completed = (kind: string, after = 0) => outcomes.filter((outcome) => outcome.kind === kind && outcome.started >= after).length;
    try {
      await until('load on every service', async () => Object.keys(kinds).map((kind) => completed(kind)), (counts) => counts.every((n) => n >= 3));

      const killSent = performance.now();
      const { signal } = await replicas[1]!.stop('SIGKILL');
      const killed = performance.now();
      t.equal(signal, 'SIGKILL');

      // The balancer's checks notice within fall × inter (2 × 2 s); meanwhile requests still
      // sent to the dead replica are refused at connect and retried on the live one.
      await until(
        'replica 2 marked DOWN in every backend',
        () => haproxyStats(socket),
        (stats) => BACKENDS.every((backend) => (servers(stats, backend).get('r2')?.status ?? '').startsWith('DOWN')),
      );
      const down = performance.now();
      // And the clients go on after that, every service on the one replica left.
      await until('more load after the check', async () => Object.keys(kinds).map((kind) => completed(kind, down)), (counts) => counts.every((n) => n >= 3));
      running = false;
      await Promise.all(workers);

      // What may fail: only a request that was in flight while the replica died (started
      // before its exit was seen, ended after the signal was sent). One that had reached the
      // replica is lost with it, and HAProxy may not replay it: a write (POST) might have
      // committed, so the config retries writes only on connection failures, and a read whose
      // answer had begun is past retrying. Everything a client started after the exit must
      // succeed: a connection refused by the dead replica is retried on the other one.
      const after = outcomes.filter((outcome) => outcome.started >= killed);
      const inFlight = outcomes.filter((outcome) => outcome.started < killed && outcome.ended > killSent);
      const before = outcomes.filter((outcome) => outcome.ended <= killSent);
      const ok = (outcome: Outcome) => outcome.status !== null && outcome.status >= 200 && outcome.status < 300;
      t.same(before.filter((outcome) => !ok(outcome)), [], 'no failure before the kill');
      t.same(after.filter((outcome) => !ok(outcome)), [], `all ${after.length} requests started after the kill succeed`);
      const lost = inFlight.filter((outcome) => !ok(outcome));
      t.ok(
        lost.every((outcome) => outcome.status === 502 || outcome.status === null),
        `in flight at the kill: ${inFlight.length}, lost: ${JSON.stringify(lost)}`,
      );
      for (const kind of Object.keys(kinds)) t.ok(completed(kind, killed) >= 3, `${kind} went on after the kill`);

      // Proof that requests did go to the dead replica and were moved, not merely that the
      // health check was quick: HAProxy counts each redispatch.
      const stats = await haproxyStats(socket);
      const redispatched = BACKENDS.map((backend) => Number(stats.find((row) => row.pxname === backend && row.svname === 'BACKEND')?.wredis ?? 0));
      t.ok(redispatched.reduce((sum, n) => sum + n, 0) > 0, `requests redispatched from the dead replica (auth, threat cloud, manager): ${redispatched.join(', ')}`);
    } finally {
      running = false;
      await Promise.all(workers);
    }
  });
});
