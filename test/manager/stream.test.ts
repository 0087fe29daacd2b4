import t, { type Test } from 'tap';
import { pino } from 'pino';
import { createSseHub } from '../../src/manager/services/sse-hub.js';
import { createStreamStore } from '../../src/manager/stores/stream.js';
import { ManualClock } from '../../src/shared/clock.js';
import { testConfig, testDb } from '../helper.js';
import { event, buildManagerOn, OPERATOR, onBothEngines, register } from './fixtures.js';
import { openStream } from './sse-client.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { storageOn, type Engine } from '../engines.js';

/** A storage of its own for a hub without an app: a temp SQLite file, or a fresh PostgreSQL database. */
async function hubStorage(t: Test, engine: Engine): Promise<Storage> {
  const postgres = await storageOn(engine);
  if (postgres === undefined) return sqliteStorageOf(testDb(t, testConfig(t)));
  t.teardown(() => postgres.close());
  return postgres;
}

async function listening(t: Test, engine: Engine, options: Parameters<typeof buildManagerOn>[2] = {}) {
  const built = await buildManagerOn(t, engine, options);
  await built.app.listen({ port: 0, host: '127.0.0.1' });
  return built;
}

onBothEngines('named events arrive in order with monotonic ids, after `connected`', async (t, engine) => {
  const { app } = await listening(t, engine);
  const stream = openStream(app);
  t.teardown(() => stream.close());
  await stream.until((f) => f.some((x) => x.event === 'connected'));
  t.equal(stream.response!.headers['content-type'], 'text/event-stream; charset=utf-8');
  t.equal(stream.response!.headers['x-content-type-options'], 'nosniff');
  t.same(stream.frames[0]!.data, { message: 'Connected to event stream' });

  const agent = await register(app, { hostname: 'sse-host', ip: '10.9.9.9' });
  await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [event({ severity: 'low' }), event({ severity: 'critical' }), event()] } });
  const policy = (await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'p', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }, { type: 'custom', config: { condition: 'd', action: 'a' } }] } })).json().data;
  await stream.until((f) => f.some((x) => x.event === 'policy_created'));

  const named = stream.named();
  t.same(named.map((f) => f.event), ['connected', 'agent_online', 'threats_reported', 'policy_created']);
  t.same(named[1]!.data, { agentId: agent.id, hostname: 'sse-host', ip: '10.9.9.9' });
  t.same(named[2]!.data, { agentId: agent.id, hostname: 'sse-host', count: 3, maxSeverity: 'critical' });
  t.same(named[3]!.data, { policyId: policy.id, version: 'v1', ruleCount: 2 });
  const ids = named.slice(1).map((f) => f.id!);
  t.ok(ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1]!)), `ids increase: ${ids}`);
  t.ok(named[0]!.id! < ids[0]!);
});

onBothEngines('Last-Event-ID replays what a client missed; an unauthenticated stream is 401', async (t, engine) => {
  const { app } = await listening(t, engine);
  const first = openStream(app);
  t.teardown(() => first.close());
  await first.until((f) => f.length > 0);
  const a = await register(app, { hostname: 'a' });
  await first.until((f) => f.some((x) => x.event === 'agent_online'));
  const seen = first.named().at(-1)!.id!;
  first.close();

  const b = await register(app, { hostname: 'b' });
  await app.inject({ method: 'POST', url: `/api/agents/${b.id}/events`, headers: b.headers, payload: { events: [event()] } });

  const second = openStream(app, { ...OPERATOR, 'last-event-id': String(seen) });
  t.teardown(() => second.close());
  await second.until((f) => f.some((x) => x.event === 'threats_reported'));
  const named = second.named();
  t.same(named.map((f) => f.event), ['connected', 'agent_online', 'threats_reported']);
  t.equal(named[0]!.id, seen, '`connected` carries the id the client resumes from');
  t.equal((named[1]!.data as { hostname: string }).hostname, 'b');
  t.ok(named[1]!.id! > seen && named[2]!.id! > named[1]!.id!);
  t.notOk(named.some((f) => (f.data as { agentId?: string }).agentId === a.id), 'nothing already seen is replayed');

  // Live events continue after the replay.
  await register(app, { hostname: 'c' });
  await second.until((f) => f.filter((x) => x.event === 'agent_online').length === 2);

  const denied = await app.inject({ url: '/api/events/stream' });
  t.equal(denied.statusCode, 401);
});

onBothEngines('an idle stream keeps receiving `: keepalive` comments that carry no event and no id', async (t, engine) => {
  // Shortened from the 30 s default, so two arrive well within the wait.
  const { app } = await listening(t, engine, { manager: { keepaliveMs: 50 } });
  const stream = openStream(app);
  t.teardown(() => stream.close());
  await stream.until((f) => f.filter((x) => x.comment === 'keepalive').length >= 2);
  const keepalives = stream.frames.filter((f) => f.comment !== undefined);
  t.ok(keepalives.length >= 2, `${keepalives.length} keepalives on an idle stream`);
  t.same(new Set(keepalives.map((f) => JSON.stringify(f))), new Set([JSON.stringify({ comment: 'keepalive' })]), 'bare comments: EventSource ignores them and Last-Event-ID does not move');
  t.same(stream.named().map((f) => f.event), ['connected'], 'no event was published meanwhile');
});

onBothEngines('streams beyond the cap get 503; closing the app ends open streams cleanly', async (t, engine) => {
  const { app } = await listening(t, engine, { manager: { maxStreams: 2 } });
  const one = openStream(app);
  const two = openStream(app);
  await one.until((f) => f.length > 0);
  await two.until((f) => f.length > 0);
  const third = await app.inject({ url: '/api/events/stream', headers: OPERATOR });
  t.equal(third.statusCode, 503);
  t.match(third.json().error, /Too many event streams/);
  await app.close();
  await Promise.all([one.ended, two.ended]);
  t.ok(one.response!.complete && two.response!.complete, 'each stream was ended by the server, not cut off');
});

onBothEngines('a client that does not read is dropped instead of buffered without bound', async (t, engine) => {
  const hub = createSseHub({ store: createStreamStore(await hubStorage(t, engine)), clock: new ManualClock(), logger: pino({ level: 'silent' }), keepaliveMs: 60_000, maxClients: 10, maxBufferedBytes: 1000 });
  const fakeClient = (buffered: () => number) => {
    const written: string[] = [];
    let destroyed = false;
    const client = {
      get writableLength() {
        return buffered();
      },
      write: (chunk: string) => void written.push(chunk),
      destroy: () => void (destroyed = true),
      end: () => {},
      on: () => client,
    };
    return { client, written, isDestroyed: () => destroyed };
  };
  let backlog = 0;
  const slow = fakeClient(() => backlog);
  const fast = fakeClient(() => 0);
  await hub.attach(slow.client as never, null);
  await hub.attach(fast.client as never, null);
  await hub.publish('policy_created', { policyId: 'pol_1', version: 'v1', ruleCount: 1 });
  t.equal(slow.written.length, 2);
  backlog = 5000;
  await hub.publish('policy_created', { policyId: 'pol_2', version: 'v2', ruleCount: 1 });
  t.ok(slow.isDestroyed());
  t.equal(hub.size, 1);
  t.equal(fast.written.length, 3);
  t.notOk(fast.isDestroyed());
  hub.close();
});

// Once, not per engine: the store is a stand-in that always fails, so no database is involved.
t.test('a stream event that cannot be recorded is logged and skipped, not thrown at the request', async (t) => {
  const errors: unknown[] = [];
  const logger = pino({ level: 'silent' });
  logger.error = ((...args: unknown[]) => void errors.push(args)) as typeof logger.error;
  const failing = { append: async (): Promise<number> => { throw new Error('disk full'); }, after: async () => [], lastId: async () => 0, listen: undefined };
  const hub = createSseHub({ store: failing, clock: new ManualClock(), logger, keepaliveMs: 60_000, maxClients: 10, maxBufferedBytes: 1000 });
  t.equal(await hub.publish('policy_created', { policyId: 'pol_1', version: 'v1', ruleCount: 1 }), null);
  t.equal(errors.length, 1);
  hub.close();
});

onBothEngines('an event published while a reconnecting client is replayed reaches it once, after the replay', async (t, engine) => {
  const stored = createStreamStore(await hubStorage(t, engine));
  // The replay is read, then held until released: a publish lands after the read, before the
  // client joins. Only the replay's read is held (on PostgreSQL live delivery reads the table too).
  let release!: () => void;
  const replayHeld = new Promise<void>((resolve) => (release = resolve));
  let replaying = false;
  const store = {
    ...stored,
    async after(id: number) {
      const hold = replaying;
      replaying = false;
      const rows = await stored.after(id);
      if (hold) await replayHeld;
      return rows;
    },
  };
  const hub = createSseHub({ store, clock: new ManualClock(), logger: pino({ level: 'silent' }), keepaliveMs: 60_000, maxClients: 10, maxBufferedBytes: 1_000_000 });
  t.teardown(() => hub.close());
  for (const n of [1, 2]) await hub.publish('policy_created', { n });
  const written: string[] = [];
  const client = { writableLength: 0, write: (chunk: string) => void written.push(chunk), destroy: () => {}, end: () => {}, on: () => client, destroyed: false };

  replaying = true;
  const attached = hub.attach(client as never, 1);
  await hub.publish('policy_created', { n: 3 });
  release();
  await attached;
  await hub.publish('policy_created', { n: 4 });

  const ids = written.map((chunk) => Number(/^id: (\d+)/.exec(chunk)?.[1]));
  t.same(ids, [1, 2, 3, 4], '`connected` at the resume point, the missed event and the one published meanwhile once each, then live');
  t.match(written[0], /event: connected/);
});

onBothEngines('concurrent publishes reach clients in id order, each once, as a replay would list them', async (t, engine) => {
  const store = createStreamStore(await hubStorage(t, engine));
  const hub = createSseHub({ store, clock: new ManualClock(), logger: pino({ level: 'silent' }), keepaliveMs: 60_000, maxClients: 10, maxBufferedBytes: 10_000_000 });
  t.teardown(() => hub.close());
  const written: string[] = [];
  const client = { writableLength: 0, write: (chunk: string) => void written.push(chunk), destroy: () => {}, end: () => {}, on: () => client, destroyed: false };
  await hub.attach(client as never, null);
  // Requests publish when their own writes commit, many at once: on PostgreSQL each append is
  // a transaction on its own connection, and their commits may come back in any order.
  const published = await Promise.all(Array.from({ length: 60 }, (_, n) => hub.publish('policy_created', { n })));
  const live = written.slice(1).map((chunk) => Number(/^id: (\d+)/.exec(chunk)?.[1]));
  t.same(live, [...published].sort((a, b) => a! - b!), 'each published event once, in id order');
  t.ok(live.every((id, i) => i === 0 || id === live[i - 1]! + 1), 'no gap: a client that resumes from any id it saw misses nothing');
  t.same((await store.after(0)).map((row) => row.id), live, 'the replay lists the same ids in the same order');
});
