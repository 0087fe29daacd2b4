/**
 * One live stream across replicas (PostgreSQL): three Manager apps over one database, each on
 * its own pool and port as replicas are. A client on any of them receives every replica's
 * events, in id order, each once; one that reconnects to another replica with Last-Event-ID
 * is replayed exactly what it missed. With Redis the cap on open streams is one for all replicas.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/shared/clock.js';
import { replicaStorages } from '../engines.js';
import { buildManager, event, OPERATOR, register, type ManagerTestApp } from '../manager/fixtures.js';
import { openStream, type Frame } from '../manager/sse-client.js';
import { pino } from 'pino';
import { connectRedis } from '../../src/shared/redis.js';
import { startRedis } from '../redis.js';
import { testConfig, testDb } from '../helper.js';

const REPLICAS = 3;

/** Three listening Managers over one fresh PostgreSQL database, one pool each. */
async function replicas(t: Test): Promise<ManagerTestApp[]> {
  const storages = await replicaStorages(REPLICAS);
  const clock = new ManualClock();
  const apps: ManagerTestApp[] = [];
  for (const storage of storages) {
    const built = await buildManager(t, { storage, clock });
    await built.app.listen({ port: 0, host: '127.0.0.1' });
    apps.push(built);
  }
  return apps;
}

const named = (frames: Frame[]) => frames.filter((frame) => frame.event !== undefined && frame.event !== 'connected');

t.test('a client on one replica receives the events caused on the others, in id order, each once', async (t) => {
  const [a, b, c] = await replicas(t);
  const stream = openStream(a!.app);
  t.teardown(() => stream.close());
  await stream.until((frames) => frames.some((frame) => frame.event === 'connected'));

  const agent = await register(b!.app, { hostname: 'seen-on-b' });
  await stream.until((frames) => named(frames).length >= 1);
  const reported = await c!.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [event(), event({ severity: 'low' })] } });
  t.equal(reported.statusCode, 201, reported.body);
  await stream.until((frames) => named(frames).length >= 2);
  const policy = await b!.app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'p', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  t.equal(policy.statusCode, 201, policy.body);
  await stream.until((frames) => named(frames).length >= 3);

  const events = named(stream.frames);
  t.same(events.map((frame) => frame.event), ['agent_online', 'threats_reported', 'policy_created']);
  t.match(events[0]!.data, { agentId: agent.id, hostname: 'seen-on-b' });
  const ids = events.map((frame) => frame.id!);
  t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), `increasing ids: ${ids.join(', ')}`);
});

t.test('concurrent publishes on three replicas: every client sees the same ids, increasing, each once', async (t) => {
  const apps = await replicas(t);
  const streams = apps.map((built) => openStream(built.app));
  t.teardown(() => streams.forEach((stream) => stream.close()));
  for (const stream of streams) await stream.until((frames) => frames.some((frame) => frame.event === 'connected'));
  const published = await Promise.all(
    Array.from({ length: 30 }, (_, n) =>
      apps[n % REPLICAS]!.app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: `p${n}`, rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } }),
    ),
  );
  t.same(published.map((res) => res.statusCode), Array(30).fill(201));
  for (const stream of streams) await stream.until((frames) => named(frames).length >= 30, 10_000);
  const seen = streams.map((stream) => named(stream.frames).map((frame) => frame.id!));
  t.equal(seen[0]!.length, 30, 'thirty events, none twice');
  t.ok(seen[0]!.every((id, i) => i === 0 || id > seen[0]![i - 1]!), 'in increasing id order');
  t.same(seen[1], seen[0], 'the second replica\'s client saw the same');
  t.same(seen[2], seen[0], 'and the third\'s');
});

t.test('a client that reconnects to another replica with Last-Event-ID is replayed exactly what it missed', async (t) => {
  const [a, b, c] = await replicas(t);
  const first = openStream(a!.app);
  t.teardown(() => first.close());
  await first.until((frames) => frames.some((frame) => frame.event === 'connected'));
  await register(b!.app, { hostname: 'before-the-drop' });
  await first.until((frames) => named(frames).length >= 1);
  const lastSeen = named(first.frames).at(-1)!.id!;
  // The replica the client was on goes away.
  first.close();
  await a!.app.close();

  const missed: number[] = [];
  for (const name of ['m1', 'm2']) {
    const res = await b!.app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name, rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
    t.equal(res.statusCode, 201);
  }
  await register(c!.app, { hostname: 'while-away' });

  const resumed = openStream(c!.app, { ...OPERATOR, 'last-event-id': String(lastSeen) });
  t.teardown(() => resumed.close());
  await resumed.until((frames) => named(frames).length >= 3);
  const replayed = named(resumed.frames);
  t.same(replayed.map((frame) => frame.event), ['policy_created', 'policy_created', 'agent_online'], 'what was missed, in order, nothing before it');
  for (const frame of replayed) missed.push(frame.id!);
  t.ok(missed[0]! > lastSeen && missed.every((id, i) => i === 0 || id > missed[i - 1]!), `ids after ${lastSeen}, increasing: ${missed.join(', ')}`);
  t.equal(resumed.frames[0]!.event, 'connected');
  t.equal(resumed.frames[0]!.id, lastSeen, '`connected` at the resume point');
});

t.test('with Redis the stream cap counts every replica\'s streams; a closed stream frees a place anywhere', async (t) => {
  const redis = await startRedis(t);
  const config = testConfig(t);
  const db = testDb(t, config);
  const clock = new ManualClock();
  const apps = [];
  for (let i = 0; i < 2; i++) {
    const client = await connectRedis(redis.url, pino({ level: 'silent' }));
    t.teardown(() => client.disconnect());
    const built = await buildManager(t, { db, config, clock, redis: client, manager: { maxStreams: 3 } });
    await built.app.listen({ port: 0, host: '127.0.0.1' });
    apps.push(built.app);
  }
  const [a, b] = apps;
  const connected = async (stream: ReturnType<typeof openStream>) => stream.until((frames) => frames.some((frame) => frame.event === 'connected'));
  const onA = [openStream(a!), openStream(a!)];
  const onB = openStream(b!);
  t.teardown(() => [...onA, onB].forEach((stream) => stream.close()));
  for (const stream of [...onA, onB]) await connected(stream);

  /** Opens a stream on `app`: its status once it is either connected (200) or refused. */
  const tryOpen = async (app: typeof a) => {
    const stream = openStream(app!);
    t.teardown(() => stream.close());
    await Promise.race([stream.ended, connected(stream).catch(() => {})]);
    return stream.response?.statusCode;
  };
  t.equal(await tryOpen(b), 503, 'a fourth stream, on the replica holding one: over the shared cap of three');
  onA[0]!.close();
  // The place is free once replica A has seen its client go.
  let status = await tryOpen(b);
  for (let attempt = 0; attempt < 200 && status !== 200; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    status = await tryOpen(b);
  }
  t.equal(status, 200, 'a stream closed on A frees a place on B');
});
