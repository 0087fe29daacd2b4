import t from 'tap';
import { sweepIntervalMs } from '../../src/manager/jobs/sweeper.js';
import { statusAt } from '../../src/manager/services/status.js';
import { buildManagerOn, onBothEngines, OPERATOR, register } from './fixtures.js';
import { toIso } from '../../src/shared/clock.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { createAgentStore } from '../../src/manager/stores/agents.js';
import { selectRows } from '../engines.js';

const streamEvents = async (storage: Storage) =>
  (await selectRows<{ event: string; data: string }>(storage, 'SELECT event, data FROM stream_events ORDER BY id')).map((row) => ({
    event: row.event,
    data: JSON.parse(row.data) as Record<string, unknown>,
  }));
const storedStatus = async (storage: Storage, id: string) => (await selectRows<{ status: string }>(storage, 'SELECT status FROM agents WHERE id = ?', [id]))[0]!.status;

t.test('status boundaries follow the configured timeouts', async (t) => {
  const timeouts = { heartbeatTimeoutMs: 120_000, offlineTimeoutMs: 300_000 };
  t.equal(statusAt(0, 119_999, timeouts), 'online');
  t.equal(statusAt(0, 120_000, timeouts), 'stale');
  t.equal(statusAt(0, 299_999, timeouts), 'stale');
  t.equal(statusAt(0, 300_000, timeouts), 'offline');
  t.equal(sweepIntervalMs(timeouts), 15_000);
  t.equal(sweepIntervalMs({ heartbeatTimeoutMs: 4000, offlineTimeoutMs: 9000 }), 2000);
});

onBothEngines('the sweep stores online → stale → offline and emits agent_offline once', async (t, engine) => {
  const { app, storage, clock, jobs, config } = await buildManagerOn(t, engine);
  const agent = await register(app, { hostname: 'edge-1', ip: '10.1.1.1' });
  const other = await register(app, { hostname: 'edge-2' });
  t.same(await jobs.sweeper.sweep(), { offline: [], stale: [] });

  clock.advance(config.manager.heartbeatTimeoutMs);
  await app.inject({ method: 'POST', url: `/api/agents/${other.id}/heartbeat`, headers: other.headers });
  t.same(await jobs.sweeper.sweep(), { offline: [], stale: [agent.id] });
  t.equal(await storedStatus(storage, agent.id), 'stale');
  t.equal(await storedStatus(storage, other.id), 'online');
  t.equal((await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data.status, 'stale');

  clock.advance(config.manager.offlineTimeoutMs - config.manager.heartbeatTimeoutMs);
  t.same(await jobs.sweeper.sweep(), { offline: [agent.id], stale: [other.id] });
  t.equal(await storedStatus(storage, agent.id), 'offline');
  t.same(await jobs.sweeper.sweep(), { offline: [], stale: [] }, 'a transition is stored and announced once');
  const offline = (await streamEvents(storage)).filter((e) => e.event === 'agent_offline');
  t.same(offline, [{ event: 'agent_offline', data: { agentId: agent.id, hostname: 'edge-1', lastSeen: '2026-03-07T12:00:00.000Z' } }]);

  // A heartbeat from an offline agent brings it back and announces it.
  const beat = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers });
  t.equal(beat.json().data.status, 'online');
  t.equal(await storedStatus(storage, agent.id), 'online');
  const last = (await streamEvents(storage)).at(-1)!;
  t.same(last, { event: 'agent_online', data: { agentId: agent.id, hostname: 'edge-1', ip: '10.1.1.1' } });
  // A heartbeat from an online agent announces nothing.
  const count = (await streamEvents(storage)).length;
  await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers });
  t.equal((await streamEvents(storage)).length, count);
});

onBothEngines('a stale agent heartbeating is announced online; an agent skipping stale still goes offline', async (t, engine) => {
  const { app, storage, clock, jobs, config } = await buildManagerOn(t, engine);
  const agent = await register(app);
  clock.advance(config.manager.heartbeatTimeoutMs + 1);
  const before = (await streamEvents(storage)).length;
  await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers });
  t.equal((await streamEvents(storage)).length, before + 1);
  t.equal((await streamEvents(storage)).at(-1)!.event, 'agent_online');
  clock.advance(config.manager.offlineTimeoutMs * 2);
  t.same(await jobs.sweeper.sweep(), { offline: [agent.id], stale: [] });
});

onBothEngines('the sweeper runs by itself once the app is ready', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine, { env: { MANAGER_HEARTBEAT_TIMEOUT_MS: '1000', MANAGER_OFFLINE_TIMEOUT_MS: '2000' } });
  const agent = await register(app);
  clock.advance(5000);
  const deadline = Date.now() + 3000;
  // The transition is announced after its commit (the stream row is written then): wait for both.
  const announced = async () => (await streamEvents(storage)).at(-1)?.event === 'agent_offline';
  while (!((await storedStatus(storage, agent.id)) === 'offline' && (await announced())) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(await storedStatus(storage, agent.id), 'offline', 'swept by the app\'s own timer');
  t.equal((await streamEvents(storage)).at(-1)!.event, 'agent_offline');
});

onBothEngines('a transition the sweeper decided on is not written once a heartbeat moved the agent meanwhile', async (t, engine) => {
  // On PostgreSQL a heartbeat may commit between the sweeper's read and its write: the write
  // re-checks the row, so the agent stays online and no agent_offline is announced for it.
  const { app, storage, clock, jobs, config } = await buildManagerOn(t, engine);
  const agent = await register(app, { hostname: 'edge-race' });
  const rowid = Number((await selectRows<{ rowid: number }>(storage, 'SELECT rowid FROM agents WHERE id = ?', [agent.id]))[0]!.rowid);
  clock.advance(config.manager.offlineTimeoutMs);
  const staleFrom = clock.now() - config.manager.offlineTimeoutMs + 1;
  // The sweeper has read the row as offline-bound here; then the agent beats.
  t.equal((await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers })).statusCode, 200);
  const store = createAgentStore(storage);
  const change = { rowid, status: 'offline' as const, was: 'online', from: Number.MIN_SAFE_INTEGER, until: staleFrom };
  t.equal(await store.setStatus(storage, change, toIso(clock.now())), false, 'the write finds the row changed');
  t.equal(await storedStatus(storage, agent.id), 'online');
  t.same(await jobs.sweeper.sweep(), { offline: [], stale: [] });
  t.notOk((await streamEvents(storage)).some((entry) => entry.event === 'agent_offline'), 'nothing announced');
  clock.advance(config.manager.offlineTimeoutMs);
  t.equal(await store.setStatus(storage, { ...change, until: clock.now() - config.manager.offlineTimeoutMs + 1 }, toIso(clock.now())), true, 'a row that still qualifies moves');
  t.equal(await storedStatus(storage, agent.id), 'offline');
});
