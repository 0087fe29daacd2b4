import { existsSync, statSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import t, { type Test } from 'tap';
import { tempDir } from '../helper.js';
import { request, startServerProcess, type HttpResult, type ServerProcess } from '../process.js';
import { selectRows } from '../engines.js';
import { ENGINES, missingAmong, processDatabase, type Engine } from './process-database.js';

/**
 * A rolling restart under load: heartbeats, event batches, IoC writes and lookups, logins
 * and SSE clients run against the real process; SIGTERM arrives while they run; the process
 * starts again on the same data folder (new ports), the clients reconnect (agents with the
 * tokens they have, SSE clients with Last-Event-ID) and the load goes on; a second SIGTERM
 * ends it. At each SIGTERM: requests the server had taken complete with a 2xx, later ones
 * are refused cleanly (connection refused/reset or the 503 envelope, never a hang), the
 * process exits 0 within 10 s and SSE streams end. Across the restart no SSE client misses
 * an event, and every write a client got a 2xx for, in either half, is in the SQLite file.
 */
/** Length of each half (before and after the restart). */
const HALF_MS = Number(process.env.SHUTDOWN_LOAD_SECONDS ?? 60) * 1000;
const AFTER_EXIT_MS = 2000;
const MANAGER_TOKEN = 'shutdown-manager-token-0123456789abcdef';
const TC_KEY = `pgk_shutdown_${'s'.repeat(40)}`;
const PASSWORD = 'correct horse battery staple';
const ENV = {
  RATE_LIMIT_SCALE: '100000',
  TC_API_KEYS: TC_KEY,
  MANAGER_AUTH_TOKEN: MANAGER_TOKEN,
  LOG_LEVEL: 'error',
};
/** A request that has not finished this long after being sent is a hang. */
const HANG_MS = 15_000;
/** Requests a minute of load must at least reach, so the SIGTERM really lands under load. */
const MIN_REQUESTS_PER_MINUTE = 500;

type Outcome = { kind: 'status'; status: number; body: string } | { kind: 'error'; code: string };
interface Attempt {
  lane: string;
  startedAt: number;
  endedAt: number;
  outcome: Outcome;
}

interface Acknowledged {
  events: string[];
  iocs: string[];
  users: string[];
  sessions: string[];
  heartbeats: Map<string, number>;
}

interface Agent {
  id: string;
  token: string;
}

interface StreamEnd {
  how: 'end' | 'error' | 'hang';
  at: number;
  detail: string;
}

/** One EventSource-like client: it keeps the ids it was sent, over every connection it makes. */
interface SseClient {
  /** Id of the first `connected` frame: every event after it must reach this client. */
  firstConnectedId: number;
  /** Ids of the events received (not `connected`), in arrival order, over all connections. */
  ids: number[];
  threatsSeen: number;
  ended: Promise<StreamEnd>;
}

/** Reads SSE frames (`id:`/`event:` lines, blank line between frames) from a chunked stream. */
function frameParser(onFrame: (frame: { id: number | null; event: string }) => void) {
  let buffered = '';
  return (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const lines = buffered.slice(0, end).split('\n');
      buffered = buffered.slice(end + 2);
      const idLine = lines.find((line) => line.startsWith('id: '));
      const eventLine = lines.find((line) => line.startsWith('event: '));
      if (eventLine) onFrame({ id: idLine ? Number(idLine.slice(4)) : null, event: eventLine.slice(7) });
    }
  };
}

/**
 * Connects `client` (a new one when absent) to the Manager's stream, sending Last-Event-ID
 * when given, and resolves once the `connected` frame (and so any replay, written in the
 * same tick) has been read.
 */
function connectStream(server: ServerProcess, ca: Buffer, client: SseClient | null, lastEventId: number | null): Promise<{ client: SseClient; connectedId: number }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${server.urls.manager}/api/events/stream`, {
      ca,
      headers: {
        authorization: `Bearer ${MANAGER_TOKEN}`,
        accept: 'text/event-stream',
        ...(lastEventId === null ? {} : { 'last-event-id': String(lastEventId) }),
      },
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      let connected = false;
      const target = client ?? ({ firstConnectedId: -1, ids: [], threatsSeen: 0 } as unknown as SseClient);
      target.ended = new Promise((done) => {
        res.on('data',
          frameParser(({ id, event }) => {
            if (event === 'connected') {
              connected = true;
              if (target.firstConnectedId < 0) target.firstConnectedId = id ?? 0;
              resolve({ client: target, connectedId: id ?? 0 });
              return;
            }
            if (id !== null) target.ids.push(id);
            if (event === 'threats_reported') target.threatsSeen++;
          }),
        );
        res.on('end', () => done({ how: 'end', at: Date.now(), detail: '' }));
        res.on('error', (error) => done({ how: 'error', at: Date.now(), detail: String(error) }));
        res.on('aborted', () => done({ how: 'error', at: Date.now(), detail: 'aborted' }));
      });
      res.on('close', () => {
        if (!connected) reject(new Error('stream closed before its connected frame'));
      });
    });
    req.end();
  });
}

/** The stream's newest id right now, as a new client (no Last-Event-ID) is told it. */
async function latestStreamId(server: ServerProcess, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${server.urls.manager}/api/events/stream`, {
      ca,
      headers: { authorization: `Bearer ${MANAGER_TOKEN}`, accept: 'text/event-stream' },
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      res.on('data',
        frameParser(({ id, event }) => {
          if (event !== 'connected') return;
          resolve(id ?? 0);
          req.destroy();
        }),
      );
    });
    req.end();
  });
}

/** Writes acknowledged so far, less those counted in `since`. */
function countAck(ack: Acknowledged, since = { events: 0, iocs: 0, users: 0, sessions: 0 }) {
  return {
    events: ack.events.length - since.events,
    iocs: ack.iocs.length - since.iocs,
    users: ack.users.length - since.users,
    sessions: ack.sessions.length - since.sessions,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The mixed load of one half, against one process. */
function startLoad(half: number, server: ServerProcess, fixtures: { agents: Agent[]; email: string; seeded: string[] }, ack: Acknowledged) {
  const ca = server.managerCa();
  const attempts: Attempt[] = [];
  let stopping = false;
  const post = (url: string, token: string, body: unknown) =>
    request(url, { method: 'POST', ca, headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body), timeoutMs: HANG_MS });

  /** Runs one request and records how it ended; returns the response when there was one. */
  async function attempt(lane: string, send: () => Promise<HttpResult>): Promise<HttpResult | undefined> {
    const startedAt = Date.now();
    try {
      const r = await send();
      attempts.push({ lane, startedAt, endedAt: Date.now(), outcome: { kind: 'status', status: r.status, body: r.body } });
      return r;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      attempts.push({ lane, startedAt, endedAt: Date.now(), outcome: { kind: 'error', code } });
      // A refused connection returns at once: pace the lane instead of spinning.
      await sleep(20);
      return undefined;
    }
  }

  const { agents, email, seeded } = fixtures;
  const lanes: Array<() => Promise<void>> = [
    ...[0, 1].map((lane) => async () => {
      for (let n = 0; !stopping; n++) {
        const agent = agents[(n * 2 + lane) % agents.length]!;
        const r = await attempt('heartbeat', () => post(`${server.urls.manager}/api/agents/${agent.id}/heartbeat`, agent.token, { uptime: n, cpu: 10, memory: 20 }));
        if (r?.status === 200) {
          const at = Date.parse((JSON.parse(r.body) as { data: { lastHeartbeat: string } }).data.lastHeartbeat);
          ack.heartbeats.set(agent.id, Math.max(ack.heartbeats.get(agent.id) ?? 0, at));
        }
      }
    }),
    ...[0, 1].map((lane) => async () => {
      for (let n = 0; !stopping; n++) {
        const agent = agents[(n + lane * 3) % agents.length]!;
        const events = Array.from({ length: 50 }, (_, i) => ({ type: 'port_scan', severity: 'medium', details: { half, lane, n, i } }));
        const r = await attempt('events', () => post(`${server.urls.manager}/api/agents/${agent.id}/events`, agent.token, { events }));
        if (r?.status === 201) ack.events.push(...(JSON.parse(r.body) as { data: { eventIds: string[] } }).data.eventIds);
      }
    }),
    async () => {
      for (let n = 0; !stopping; n++) {
        const values = Array.from({ length: 10 }, (_, i) => `load-h${half}-${n}-${i}.example.net`);
        const r = await attempt('ioc-write', () =>
          post(`${server.urls.threatCloud}/api/threats`, TC_KEY, { threats: values.map((value) => ({ type: 'domain', value, source: 'load', category: 'malware' })) }),
        );
        if (r?.status === 201) ack.iocs.push(...values);
      }
    },
    ...[0, 1].map(() => async () => {
      for (let n = 0; !stopping; n++) {
        const value = seeded[n % seeded.length]!;
        await attempt('ioc-lookup', () => request(`${server.urls.threatCloud}/api/iocs/${value}`, { headers: { authorization: `Bearer ${TC_KEY}` }, timeoutMs: HANG_MS }));
      }
    }),
    async () => {
      for (let n = 0; !stopping; n++) {
        if (n % 5 === 0) {
          const newEmail = `load-h${half}-${n}@example.com`;
          const r = await attempt('register', () => post(`${server.urls.auth}/api/auth/register`, '', { email: newEmail, name: 'Load', password: PASSWORD }));
          if (r?.status === 201) ack.users.push(newEmail);
        } else {
          const r = await attempt('login', () => post(`${server.urls.auth}/api/auth/login`, '', { email, password: PASSWORD }));
          if (r?.status === 200) {
            const token = (JSON.parse(r.body) as { data: { token: string } }).data.token;
            ack.sessions.push((JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid);
          }
        }
      }
    },
  ];
  const running = lanes.map((lane) => lane());
  return {
    attempts,
    async stop(): Promise<void> {
      stopping = true;
      await Promise.all(running);
    },
  };
}

const isOk = (a: Attempt) => a.outcome.kind === 'status' && a.outcome.status >= 200 && a.outcome.status < 300;
const isShuttingDownEnvelope = (body: string) => {
  try {
    const parsed = JSON.parse(body) as { ok?: unknown; error?: unknown };
    return parsed.ok === false && parsed.error === 'Server is shutting down';
  } catch {
    return false;
  }
};
const isCleanRefusal = (a: Attempt) =>
  (a.outcome.kind === 'error' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(a.outcome.code)) ||
  (a.outcome.kind === 'status' && a.outcome.status === 503 && isShuttingDownEnvelope(a.outcome.body));

/**
 * SIGTERM while `load` runs, a moment of knocking on the closed ports, then every check on
 * how the process went down. The load is stopped when this returns.
 */
async function sigtermUnderLoad(t: Test, label: string, server: ServerProcess, load: ReturnType<typeof startLoad>, streams: SseClient[], loadMs: number): Promise<void> {
  const { attempts } = load;
  const beforeTerm = attempts.length;
  const sigtermAt = Date.now();
  const stopped = await server.stop('SIGTERM', 15_000);
  const exitedAt = Date.now();
  // Keep knocking for a moment after the exit: those must be refused, not hang.
  await sleep(AFTER_EXIT_MS);
  await load.stop();
  const streamEnds = await Promise.all(
    streams.map((s) => Promise.race([s.ended, new Promise<StreamEnd>((r) => setTimeout(() => r({ how: 'hang', at: Date.now(), detail: '' }), 1000))])),
  );

  t.equal(stopped.code, 0, `${label}: exit code 0`);
  t.equal(stopped.signal, null, `${label}: exited by itself, not killed`);
  t.ok(stopped.ms < 10_000, `${label}: exited ${stopped.ms} ms after SIGTERM (< 10 s)`);
  const minRequests = Math.ceil((MIN_REQUESTS_PER_MINUTE * loadMs) / 60_000);
  t.ok(beforeTerm >= minRequests, `${label}: ${beforeTerm} requests ran before SIGTERM (at least ${minRequests})`);

  const describe = (a: Attempt) => `${a.lane} +${a.startedAt - sigtermAt} ms: ${a.outcome.kind === 'status' ? `${a.outcome.status} ${a.outcome.body.slice(0, 120)}` : a.outcome.code}`;
  const finishedBefore = attempts.filter((a) => a.endedAt < sigtermAt);
  t.same(finishedBefore.filter((a) => !isOk(a)).map(describe), [], `${label}: under load before SIGTERM every request answered 2xx`);

  // Sent before SIGTERM, answered after it. The client cannot see whether the server had
  // read a request before it began closing (a TLS handshake takes a while): those it had
  // complete with a 2xx, those that arrived after get the 503 envelope. Anything else
  // (a 500, a reset mid-handler, a hang) fails.
  const inFlight = attempts.filter((a) => a.startedAt < sigtermAt && a.endedAt >= sigtermAt);
  const completed = inFlight.filter(isOk);
  t.ok(completed.length > 0, `${label}: ${completed.length} of ${inFlight.length} requests in flight at SIGTERM completed with a 2xx after it`);
  t.same(inFlight.filter((a) => !isOk(a) && !isCleanRefusal(a)).map(describe), [], `${label}: no in-flight request failed otherwise or hung`);
  // A reset here is a connection the server had accepted but not yet read a request from:
  // closing drops idle connections (forceCloseConnections 'idle'), never one with a request
  // in progress, so nothing a reset client sent was started, let alone acknowledged.

  const later = attempts.filter((a) => a.startedAt >= sigtermAt);
  const tally = new Map<string, number>();
  for (const a of [...inFlight, ...later]) {
    const key = a.outcome.kind === 'status' ? String(a.outcome.status) : a.outcome.code;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  t.comment(`${label}: outcomes from SIGTERM on: ${[...tally].map(([k, n]) => `${k}×${n}`).join(', ')}`);
  const afterExit = later.filter((a) => a.startedAt > exitedAt);
  t.ok(afterExit.length > 0, `${label}: clients kept trying after the exit`);
  t.same(later.filter((a) => !isOk(a) && !isCleanRefusal(a)).map(describe), [], `${label}: requests after SIGTERM: 2xx, 503 envelope or connection refused — never a hang`);
  t.same(afterExit.filter((a) => a.outcome.kind !== 'error' || a.outcome.code !== 'ECONNREFUSED').map(describe), [], `${label}: after the exit: connection refused`);

  // A stream must end, never hang. Usually it ends with the chunked terminator ('end');
  // when the exit races the last TLS write the client sees the socket close ('aborted'),
  // which an EventSource treats the same way (reconnect with Last-Event-ID).
  t.comment(`${label}: SSE endings: ${streamEnds.map((end) => `${end.how}${end.detail ? ` (${end.detail})` : ''}`).join(', ')}`);
  for (const [i, end] of streamEnds.entries()) {
    t.not(end.how, 'hang', `${label}: SSE client ${i + 1} was closed by the server`);
    t.ok(end.at <= exitedAt + 100, `${label}: SSE client ${i + 1} closed by the time the process exited`);
  }
}

for (const engine of ENGINES) {
  t.test(`rolling restart under mixed load: in-flight complete, new refused, exit 0, clients resume, nothing acknowledged lost (${engine})`, (t) => rollingRestart(t, engine));
}

async function rollingRestart(t: Test, engine: Engine): Promise<void> {
  const dataDir = tempDir(t);
  const database = await processDatabase(t, engine, dataDir);
  const env = { ...ENV, ...database.env };
  const first = await startServerProcess(dataDir, env);
  t.teardown(() => first.stop('SIGKILL'));
  await first.waitHealthy(30_000);
  const firstCa = first.managerCa();
  const post = (ca: Buffer, url: string, token: string, body: unknown) =>
    request(url, { method: 'POST', ca, headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body), timeoutMs: HANG_MS });

  // Fixtures: a small fleet, a user to log in as, and some IoCs to look up.
  const agents: Agent[] = [];
  for (let n = 0; n < 6; n++) {
    const r = await post(firstCa, `${first.urls.manager}/api/agents/register`, MANAGER_TOKEN, { hostname: `load-${n}`, os: 'linux', version: '1.0.0' });
    t.equal(r.status, 201, `agent ${n} registered`);
    const data = (JSON.parse(r.body) as { data: { id: string; agentToken: string } }).data;
    agents.push({ id: data.id, token: data.agentToken });
  }
  const email = 'load-user@example.com';
  t.equal((await post(firstCa, `${first.urls.auth}/api/auth/register`, '', { email, name: 'Load', password: PASSWORD })).status, 201, 'user registered');
  const seeded = Array.from({ length: 50 }, (_, i) => `seed-${i}.load.example.com`);
  t.equal(
    (await post(firstCa, `${first.urls.threatCloud}/api/threats`, TC_KEY, { threats: seeded.map((value) => ({ type: 'domain', value, source: 'load', category: 'phishing' })) })).status,
    201,
    'IoCs seeded',
  );
  const fixtures = { agents, email, seeded };
  const ack: Acknowledged = { events: [], iocs: [], users: [], sessions: [], heartbeats: new Map() };
  /** How many writes of each kind were acknowledged by the end of each half. */
  const acknowledgedBy: Array<ReturnType<typeof countAck>> = [];

  // --- First half, then SIGTERM in the middle of it ---
  const streams = await Promise.all(Array.from({ length: 3 }, async () => (await connectStream(first, firstCa, null, null)).client));
  const firstLoad = startLoad(1, first, fixtures, ack);
  await sleep(HALF_MS);
  await sigtermUnderLoad(t, '1st SIGTERM', first, firstLoad, streams, HALF_MS);
  t.ok(streams.every((s) => s.threatsSeen > 0), `SSE clients saw the first half's load (${streams.map((s) => s.threatsSeen).join(', ')} threats_reported)`);
  acknowledgedBy.push(countAck(ack));
  const lastSeenBefore = streams.map((s) => s.ids.at(-1) ?? s.firstConnectedId);

  // --- Restart on the same data folder: new ports, same tokens, same keys ---
  const second = await startServerProcess(dataDir, env);
  t.teardown(() => second.stop('SIGKILL'));
  await second.waitHealthy(30_000);
  const secondCa = second.managerCa();
  for (const [n, agent] of agents.entries()) {
    const r = await post(secondCa, `${second.urls.manager}/api/agents/${agent.id}/heartbeat`, agent.token, { uptime: 0, cpu: 1, memory: 1 });
    t.equal(r.status, 200, `agent ${n} heartbeats with its old token after the restart`);
  }
  const secondStarted = Date.now();
  const secondLoad = startLoad(2, second, fixtures, ack);

  // EventSource reconnects after a delay; by then the second process has published events
  // of its own. Waiting for an acknowledged batch makes sure the clients missed some.
  const eventsBeforeReconnect = ack.events.length;
  const reconnectDeadline = Date.now() + 30_000;
  while (ack.events.length === eventsBeforeReconnect && Date.now() < reconnectDeadline) await sleep(50);
  const latestBeforeReconnect = await latestStreamId(second, secondCa);
  for (const [i, stream] of streams.entries()) {
    t.ok(latestBeforeReconnect > lastSeenBefore[i]!, `SSE client ${i + 1} missed events ${lastSeenBefore[i]! + 1}–${latestBeforeReconnect} while away`);
    const { connectedId } = await connectStream(second, secondCa, stream, lastSeenBefore[i]!);
    t.equal(connectedId, lastSeenBefore[i], `SSE client ${i + 1} resumes from its Last-Event-ID`);
  }

  // --- Second half, then the closing SIGTERM, also under load ---
  await sleep(Math.max(0, HALF_MS - (Date.now() - secondStarted)));
  await sigtermUnderLoad(t, '2nd SIGTERM', second, secondLoad, streams, HALF_MS);

  // Every event from a client's first connection on reached it exactly once and in order,
  // the ones published while it was away (by either process) included: stream ids come from
  // one sequence (AUTOINCREMENT on SQLite, an identity on PostgreSQL), so a gap is a missed event.
  for (const [i, stream] of streams.entries()) {
    const gaps: string[] = [];
    let expected = stream.firstConnectedId + 1;
    for (const id of stream.ids) {
      if (id !== expected) gaps.push(`expected ${expected}, got ${id}`);
      expected = id + 1;
    }
    t.same(gaps.slice(0, 10), [], `SSE client ${i + 1} received events ${stream.firstConnectedId + 1}–${stream.ids.at(-1)} with no gap or repeat`);
    t.ok((stream.ids.at(-1) ?? 0) > latestBeforeReconnect, `SSE client ${i + 1} went on receiving live events after the replay`);
  }

  // The database itself, read after the process is gone.
  if (engine === 'sqlite') {
    const wal = path.join(dataDir, 'panguard.db-wal');
    t.ok(!existsSync(wal) || statSync(wal).size === 0, 'WAL checkpointed on close');
  }
  if (database.integrity) t.equal(database.integrity(), 'ok', 'integrity_check');
  const storage = await database.open();
  const [h1, h2] = [acknowledgedBy[0]!, countAck(ack, acknowledgedBy[0]!)];
  t.ok(Object.values(h1).every((n) => n > 0) && Object.values(h2).every((n) => n > 0),
    `both halves acknowledged writes: ${h1.events} + ${h2.events} events, ${h1.iocs} + ${h2.iocs} IoCs, ${h1.users} + ${h2.users} users, ${h1.sessions} + ${h2.sessions} logins`);
  t.equal(ack.heartbeats.size, agents.length, 'every agent had a heartbeat acknowledged');
  t.same(await missingAmong(storage, 'SELECT 1 FROM threat_events WHERE id = ?', ack.events), [], 'every acknowledged event');
  t.same(await missingAmong(storage, `SELECT 1 FROM iocs WHERE type = 'domain' AND value = ?`, ack.iocs), [], 'every acknowledged IoC');
  t.same(await missingAmong(storage, 'SELECT 1 FROM users WHERE email = ?', ack.users), [], 'every acknowledged user');
  t.same(await missingAmong(storage, 'SELECT 1 FROM sessions WHERE id = ?', ack.sessions), [], 'every acknowledged login session');
  const behind: string[] = [];
  for (const [id, at] of ack.heartbeats) {
    const [row] = await selectRows<{ last_heartbeat_ms: number }>(storage, 'SELECT last_heartbeat_ms FROM agents WHERE id = ?', [id]);
    if (Number(row?.last_heartbeat_ms ?? 0) < at) behind.push(id);
  }
  t.same(behind, [], 'every agent keeps at least its last acknowledged heartbeat');
}
