import { buildManagerApp } from '../../src/manager/app.js';
import { createStreamStore } from '../../src/manager/stores/stream.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import type { ResolvedConfig } from '../../src/config.js';
import { ManualClock, type Clock } from '../../src/shared/clock.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase } from '../../src/shared/db/open.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import type { ServiceDeps } from '../../src/shared/service-deps.js';
import { selectRows, storageOn, type Engine } from '../engines.js';
import { sqliteDeps, testConfig } from '../helper.js';
import { postgresUrlOf } from '../threat-cloud/fixtures.js';
import { event, onBothEngines, OPERATOR, register } from './fixtures.js';

interface OpenDatabase {
  storage: Storage;
  /** What a Manager app is built from on this database. */
  deps(clock: Clock): ServiceDeps;
  close(): Promise<void>;
}

/**
 * Where a test's Manager keeps its data, openable again after it was closed, as a restarted
 * process opens it: the config's SQLite file, or a fresh migrated PostgreSQL database whose
 * every opening is a new pool on its URL.
 */
async function databaseOn(engine: Engine, config: ResolvedConfig): Promise<() => Promise<OpenDatabase>> {
  const initial = await storageOn(engine);
  if (initial) {
    const url = await postgresUrlOf(initial);
    await initial.close();
    return async () => {
      const storage = await openPostgresStorage({ connectionString: url, poolSize: 10, statementTimeoutMs: 30_000, ssl: false });
      return { storage, deps: (clock) => ({ storage, config, clock }), close: () => storage.close() };
    };
  }
  return async () => {
    const db = openDatabase(config.databasePath);
    migrate(db, MIGRATIONS);
    return { storage: sqliteStorageOf(db), deps: (clock) => sqliteDeps(db, config, clock), close: async () => closeDatabase(db) };
  };
}

const streamIds = async (storage: Storage) =>
  (await selectRows<{ n: number; min: number; max: number }>(storage, 'SELECT COUNT(*) AS n, MIN(id) AS min, MAX(id) AS max FROM stream_events'))[0]!;

onBothEngines('a restart on the same database loses no agent, token, event, policy or stream position', async (t, engine) => {
  const config = testConfig(t, { MANAGER_RATE_LIMIT: '100000' });
  const clock = new ManualClock();
  const open = await databaseOn(engine, config);
  const start = async () => {
    const database = await open();
    const app = await buildManagerApp(database.deps(clock));
    await app.ready();
    return { app, storage: database.storage, stop: async () => (await app.close(), await database.close()) };
  };

  const first = await start();
  const agent = await register(first.app, { hostname: 'keep-me', org_id: 'acme', tags: ['prod'] });
  await first.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { cpu: 33, policyVersion: 'v2' } });
  await first.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [event(), event({ severity: 'critical' })] } });
  await first.app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'g', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  await first.app.inject({ method: 'PUT', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR, payload: { rules: [{ type: 'custom', config: { condition: 'o', action: 'a' } }] } });
  const lastStreamId = Number((await streamIds(first.storage)).max);
  const before = (await first.app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
  await first.stop();

  const second = await start();
  t.teardown(() => second.stop());
  const after = await second.app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR });
  t.equal(after.statusCode, 200);
  t.same(after.json().data, before, 'the agent, its metrics and its policy version are unchanged');
  t.equal(before.cpu, 33);
  t.equal(before.activePolicyVersion, 'v2');
  const beat = await second.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers });
  t.equal(beat.statusCode, 200, 'the agent token still works');
  t.equal(beat.json().data.pendingPolicies, 0, 'the applied policy version survived');
  const threats = (await second.app.inject({ url: '/api/threats', headers: OPERATOR })).json();
  t.equal(threats.pagination.total, 2);
  const next = await second.app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'g2', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  t.equal(next.json().data.version, 'v3', 'the version counter continues');
  const nextStreamId = Number((await streamIds(second.storage)).max);
  t.ok(nextStreamId > lastStreamId, 'stream ids continue after the restart');
  const history = (await second.app.inject({ url: '/api/policy/history', headers: OPERATOR })).json();
  t.same(history.data.map((p: { version: string }) => p.version), ['v3', 'v2', 'v1']);
  const tagged = (await second.app.inject({ url: '/api/agents?tag=prod&org_id=acme', headers: OPERATOR })).json();
  t.equal(tagged.pagination.total, 1);
});

onBothEngines('the stream replays across a restart from the persisted tail', async (t, engine) => {
  const config = testConfig(t, { MANAGER_RATE_LIMIT: '100000' });
  const clock = new ManualClock();
  const database = await (await databaseOn(engine, config))();
  t.teardown(() => database.close());
  const first = await buildManagerApp(database.deps(clock));
  await register(first, { hostname: 'one' });
  await register(first, { hostname: 'two' });
  await first.close();
  const rows = await selectRows<{ id: number; event: string; data: string }>(database.storage, 'SELECT id, event, data FROM stream_events ORDER BY id');
  t.equal(rows.length, 2);

  const second = await buildManagerApp(database.deps(clock));
  t.teardown(() => second.close());
  await second.listen({ port: 0, host: '127.0.0.1' });
  const { port } = second.server.address() as { port: number };
  const controller = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/api/events/stream`, { headers: { ...OPERATOR, 'last-event-id': String(rows[0]!.id) }, signal: controller.signal });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('agent_online')) text += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
  t.match(text, `id: ${rows[1]!.id}\nevent: agent_online\ndata: ${rows[1]!.data}\n\n`);
  t.notMatch(text, `id: ${rows[0]!.id}\nevent: agent_online`, "the event already seen is not replayed");
});

onBothEngines('only the last 1,000 stream events are kept', async (t, engine) => {
  const config = testConfig(t);
  const database = await (await databaseOn(engine, config))();
  t.teardown(() => database.close());
  const stream = createStreamStore(database.storage);
  for (let i = 0; i < 1005; i++) await stream.append('policy_created', JSON.stringify({ n: i }), '2026-03-07T12:00:00.000Z');
  const { n, min, max } = await streamIds(database.storage);
  t.equal(n, 1000);
  t.equal(max, 1005);
  t.equal(min, 6);
  t.equal(await stream.lastId(), 1005);
  t.same((await stream.after(1003)).map((row) => JSON.parse(row.data).n), [1003, 1004]);
  t.equal((await stream.after(0)).length, 1000, 'a client further behind gets the retained tail');
});
