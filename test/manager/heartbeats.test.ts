import type { Test } from 'tap';
import { createOrgData } from '../../src/bridges/auth-to-manager-org-data.js';
import { createAgentService } from '../../src/manager/services/agents.js';
import { createAgentStore } from '../../src/manager/stores/agents.js';
import { createEnrollmentRules } from '../../src/manager/services/enrollment.js';
import { createEventStore } from '../../src/manager/stores/events.js';
import { createPolicyStore } from '../../src/manager/stores/policies.js';
import { createSseHub } from '../../src/manager/services/sse-hub.js';
import { createStreamStore } from '../../src/manager/stores/stream.js';
import { createEnrollTokenVerifier } from '../../src/shared/enroll-tokens.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { ManualClock } from '../../src/shared/clock.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { pino } from 'pino';
import { testConfig, testDb } from '../helper.js';
import { execute, selectRows, storageOn, type Engine } from '../engines.js';
import { buildManagerOn, onBothEngines, OPERATOR, register } from './fixtures.js';

const streamEvents = async (storage: Storage, event: string) =>
  (await selectRows<{ data: string }>(storage, 'SELECT data FROM stream_events WHERE event = ? ORDER BY id', [event])).map((row) => JSON.parse(row.data) as Record<string, unknown>);

// On SQLite this proves the connection's token cache (kept exact by TEMP triggers) exact; on
// PostgreSQL, which looks every token up, it proves the same refusals.
onBothEngines('a revoked agent token is refused on the very next request, however it was revoked', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine);
  const beat = (id: string, headers: Record<string, string>) => app.inject({ method: 'POST', url: `/api/agents/${id}/heartbeat`, headers, payload: {} });

  // Re-registration replaces the token: the old one is dead at once, though it just worked.
  const first = await register(app, { hostname: 'rotating' });
  t.equal((await beat(first.id, first.headers)).statusCode, 200, 'the token works (and is now remembered)');
  const second = await register(app, { hostname: 'rotating' });
  t.equal(second.id, first.id);
  t.equal((await beat(first.id, first.headers)).statusCode, 401, 'old token refused right after re-registration');
  t.equal((await beat(second.id, second.headers)).statusCode, 200, 'the new token works');

  // Deregistration.
  const gone = await register(app, { hostname: 'leaving' });
  t.equal((await beat(gone.id, gone.headers)).statusCode, 200);
  t.equal((await app.inject({ method: 'DELETE', url: `/api/agents/${gone.id}`, headers: OPERATOR })).statusCode, 200);
  t.equal((await beat(gone.id, gone.headers)).statusCode, 401, 'refused right after deregistration');
  t.equal((await app.inject({ method: 'POST', url: `/api/agents/${gone.id}/events`, headers: gone.headers, payload: { events: [] } })).statusCode, 401);

  // The Auth Server deleting an account deletes its org's agents with its own SQL, not the Manager's.
  const owned = await register(app, { hostname: 'owned', org_id: 'usr_deleted' });
  t.equal((await beat(owned.id, owned.headers)).statusCode, 200);
  await storage.transaction({ durable: false }, (tx) => createOrgData(storage).deleteOf(tx, 'usr_deleted'));
  t.equal((await beat(owned.id, owned.headers)).statusCode, 401, 'refused right after its org was deleted');

  t.equal((await beat(second.id, second.headers)).statusCode, 200, 'other agents are unaffected');
});

onBothEngines('an answered heartbeat is already in every read: detail, lists by status, overview and health', async (t, engine) => {
  const { app, clock, config } = await buildManagerOn(t, engine);
  const agents = await Promise.all(['a', 'b', 'c'].map((hostname) => register(app, { hostname })));
  clock.advance(config.manager.offlineTimeoutMs);
  const beats = await Promise.all(
    agents.map((agent, i) => app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { cpu: 10 + i, memory: 20, uptime: 30 } })),
  );
  t.same(beats.map((res) => res.statusCode), [200, 200, 200]);
  const now = new Date(clock.now()).toISOString();
  for (const [i, agent] of agents.entries()) {
    t.same(beats[i]!.json().data, { id: agent.id, status: 'online', lastHeartbeat: now, pendingPolicies: 0 });
    const detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
    t.match(detail, { status: 'online', lastHeartbeat: now, cpu: 10 + i, memory: 20, uptime: 30 });
  }
  t.equal((await app.inject({ url: '/api/agents?status=online', headers: OPERATOR })).json().pagination.total, 3);
  t.equal((await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data.onlineAgents, 3);
  t.same((await app.inject({ url: '/health' })).json().data.agents, { total: 3, online: 3 });
});

onBothEngines('heartbeats arriving together from an offline agent: each answered, agent_online announced once, before the answers', async (t, engine) => {
  const { app, storage, clock, config } = await buildManagerOn(t, engine);
  const agent = await register(app, { hostname: 'flaky', ip: '10.9.9.9' });
  clock.advance(config.manager.offlineTimeoutMs + 1);
  const before = (await streamEvents(storage, 'agent_online')).length;
  const announcedAtAnswer: number[] = [];
  // Each answer's read starts the moment the answer arrives.
  const beats = await Promise.all(
    Array.from({ length: 4 }, () =>
      app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: {} }).then(async (res) => {
        announcedAtAnswer.push((await streamEvents(storage, 'agent_online')).length - before);
        return res;
      }),
    ),
  );
  t.same(beats.map((res) => res.json().data.status), ['online', 'online', 'online', 'online']);
  t.same((await streamEvents(storage, 'agent_online')).slice(before), [{ agentId: agent.id, hostname: 'flaky', ip: '10.9.9.9' }], 'announced once');
  t.same(announcedAtAnswer, [1, 1, 1, 1], 'every answer came after the announcement');
});

/**
 * The agent service on its own stores, to put several heartbeats into one turn: over a temp
 * SQLite file (with the connection's token cache, as the app has it) or a fresh PostgreSQL database.
 */
async function agentService(t: Test, engine: Engine) {
  const config = testConfig(t);
  const postgres = await storageOn(engine);
  const db = postgres === undefined ? testDb(t, config) : undefined;
  const storage: Storage = postgres ?? sqliteStorageOf(db!);
  const clock = new ManualClock();
  const agents = createAgentStore(storage, db);
  t.teardown(async () => {
    agents.close();
    await postgres?.close();
  });
  const hub = createSseHub({ store: createStreamStore(storage), clock, logger: pino({ level: 'silent' }), keepaliveMs: 60_000, maxClients: 1, maxBufferedBytes: 1024 });
  const policies = createPolicyStore(storage);
  const service = createAgentService({
    storage,
    clock,
    timeouts: { heartbeatTimeoutMs: config.manager.heartbeatTimeoutMs, offlineTimeoutMs: config.manager.offlineTimeoutMs },
    agents,
    events: createEventStore(storage),
    policies,
    hub,
    enrollment: createEnrollmentRules(createEnrollTokenVerifier(storage, clock)),
  });
  const { agent } = await service.register({ hostname: 'h', os: 'linux', version: '1.0' }, { kind: 'operator' }, '10.0.0.1');
  return { clock, agents, policies, service, agent, config, storage };
}

onBothEngines('one agent\'s heartbeats of one turn: answered and stored as one-at-a-time writes would', async (t, engine) => {
  const { clock, agents, policies, service, agent, config, storage } = await agentService(t, engine);
  await storage.transaction({ durable: false }, (tx) => policies.insert(tx, { id: 'pol_1', orgId: null, agentId: null, name: 'p', description: null, rules: '[]', createdAt: new Date(clock.now()).toISOString() }));
  clock.advance(config.manager.offlineTimeoutMs);
  await execute(storage, `UPDATE agents SET status = 'offline' WHERE id = ?`, [agent.id]);
  const bodies = [{ cpu: 1, policyVersion: 'v0', version: '2.0' }, { memory: 5 }, { cpu: 3, policyVersion: 'v1' }, { uptime: 9 }];
  const times: number[] = [];
  const answers = bodies.map((body) => {
    clock.advance(10);
    times.push(clock.now());
    return service.heartbeat(agent.id, body);
  });
  const iso = (ms: number) => new Date(ms).toISOString();
  t.same(await Promise.all(answers), [
    { id: agent.id, status: 'online', lastHeartbeat: iso(times[0]!), pendingPolicies: 1 },
    { id: agent.id, status: 'online', lastHeartbeat: iso(times[1]!), pendingPolicies: 1 },
    { id: agent.id, status: 'online', lastHeartbeat: iso(times[2]!), pendingPolicies: 0 },
    { id: agent.id, status: 'online', lastHeartbeat: iso(times[3]!), pendingPolicies: 0 },
  ], 'each judged after the ones before it');
  t.match(await agents.findById(storage, agent.id), {
    last_heartbeat_ms: times[3],
    cpu: null,
    memory: null,
    uptime: 9,
    version: '2.0',
    policy_version: 'v1',
    status: 'online',
    status_changed_at: iso(times[0]!),
  }, 'the last metrics, the last version and policyVersion sent, online since the first');
  const [online] = await selectRows<{ n: number }>(storage, `SELECT count(*) AS n FROM stream_events WHERE event = 'agent_online'`);
  t.equal(Number(online!.n), 2, 'registration and the first of these beats');
});

onBothEngines('flushHeartbeats (run by the app on close) writes a heartbeat still waiting for its commit; an unknown agent is a 404', async (t, engine) => {
  const { clock, agents, service, agent, storage } = await agentService(t, engine);
  clock.advance(5000);
  const answer = service.heartbeat(agent.id, { cpu: 42 });
  t.equal((await agents.findById(storage, agent.id))!.cpu, null, 'not written yet: it waits for the end of this turn');
  await service.flushHeartbeats();
  t.equal((await agents.findById(storage, agent.id))!.cpu, 42, 'written by the flush the app runs on close');
  t.equal((await agents.findById(storage, agent.id))!.last_heartbeat_ms, clock.now());
  t.same(await answer, { id: agent.id, status: 'online', lastHeartbeat: new Date(clock.now()).toISOString(), pendingPolicies: 0 });
  const missing = await service.heartbeat('agent-missing', {}).catch((error: unknown) => error);
  t.match(missing, { statusCode: 404, code: 'AGENT_NOT_FOUND' }, 'an unknown agent is a 404');
});
