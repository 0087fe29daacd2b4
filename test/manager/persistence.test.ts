import t from 'tap';
import { buildManagerApp } from '../../src/manager/app.js';
import { createStreamStore } from '../../src/manager/stores/stream.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase } from '../../src/shared/db/open.js';
import { sqliteDeps, testConfig } from '../helper.js';
import { event, OPERATOR, register } from './fixtures.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';

t.test('a restart on the same file loses no agent, token, event, policy or stream position', async (t) => {
  const config = testConfig(t, { MANAGER_RATE_LIMIT: '100000' });
  const clock = new ManualClock();
  const start = async () => {
    const db = openDatabase(config.databasePath);
    migrate(db, MIGRATIONS);
    const app = await buildManagerApp(sqliteDeps(db, config, clock));
    await app.ready();
    return { app, db, stop: async () => (await app.close(), closeDatabase(db)) };
  };

  const first = await start();
  const agent = await register(first.app, { hostname: 'keep-me', org_id: 'acme', tags: ['prod'] });
  await first.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { cpu: 33, policyVersion: 'v2' } });
  await first.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [event(), event({ severity: 'critical' })] } });
  await first.app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'g', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  await first.app.inject({ method: 'PUT', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR, payload: { rules: [{ type: 'custom', config: { condition: 'o', action: 'a' } }] } });
  const lastStreamId = (first.db.prepare('SELECT MAX(id) AS id FROM stream_events').get() as { id: number }).id;
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
  const nextStreamId = (second.db.prepare('SELECT MAX(id) AS id FROM stream_events').get() as { id: number }).id;
  t.ok(nextStreamId > lastStreamId, 'stream ids continue after the restart');
  const history = (await second.app.inject({ url: '/api/policy/history', headers: OPERATOR })).json();
  t.same(history.data.map((p: { version: string }) => p.version), ['v3', 'v2', 'v1']);
  const tagged = (await second.app.inject({ url: '/api/agents?tag=prod&org_id=acme', headers: OPERATOR })).json();
  t.equal(tagged.pagination.total, 1);
});

t.test('the stream replays across a restart from the persisted tail', async (t) => {
  const config = testConfig(t, { MANAGER_RATE_LIMIT: '100000' });
  const clock = new ManualClock();
  const db = openDatabase(config.databasePath);
  migrate(db, MIGRATIONS);
  t.teardown(() => closeDatabase(db));
  const first = await buildManagerApp(sqliteDeps(db, config, clock));
  await register(first, { hostname: 'one' });
  await register(first, { hostname: 'two' });
  await first.close();
  const rows = db.prepare('SELECT id, event, data FROM stream_events ORDER BY id').all() as { id: number; event: string; data: string }[];
  t.equal(rows.length, 2);

  const second = await buildManagerApp(sqliteDeps(db, config, clock));
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

t.test('only the last 1,000 stream events are kept', async (t) => {
  const config = testConfig(t);
  const db = openDatabase(config.databasePath);
  migrate(db, MIGRATIONS);
  t.teardown(() => closeDatabase(db));
  const stream = createStreamStore(sqliteStorageOf(db));
  for (let i = 0; i < 1005; i++) await stream.append('policy_created', JSON.stringify({ n: i }), '2026-03-07T12:00:00.000Z');
  const { n, min, max } = db.prepare('SELECT COUNT(*) AS n, MIN(id) AS min, MAX(id) AS max FROM stream_events').get() as { n: number; min: number; max: number };
  t.equal(n, 1000);
  t.equal(max, 1005);
  t.equal(min, 6);
  t.equal(await stream.lastId(), 1005);
  t.same((await stream.after(1003)).map((row) => JSON.parse(row.data).n), [1003, 1004]);
  t.equal((await stream.after(0)).length, 1000, 'a client further behind gets the retained tail');
});
