import { forbidden } from '../../src/shared/errors.js';
import { selectRows } from '../engines.js';
import { authHeader } from '../helper.js';
import { ENROLL_TOKEN, event, buildManagerOn, countIn, onBothEngines, OPERATOR, register } from './fixtures.js';

const AGENT_TOKEN = /^pga_[0-9A-Za-z]{40}$/;

onBothEngines('registration returns the agent object with a flat agentToken, stored only as SHA-256', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine);
  const res = await app.inject({
    method: 'POST',
    url: '/api/agents/register',
    headers: OPERATOR,
    payload: { hostname: 'web-01', os: 'linux', version: '1.2.3', ip: '10.0.0.5', tags: ['prod', 'eu'] },
  });
  t.equal(res.statusCode, 201);
  const data = res.json().data;
  t.match(data.id, /^agent-/);
  t.match(data.agentToken, AGENT_TOKEN);
  t.same(
    { ...data, id: undefined, agentToken: undefined },
    {
      id: undefined,
      agentToken: undefined,
      hostname: 'web-01',
      os: 'linux',
      version: '1.2.3',
      ip: '10.0.0.5',
      orgId: 'default',
      tags: ['prod', 'eu'],
      status: 'online',
      lastHeartbeat: '2026-03-07T12:00:00.000Z',
      registeredAt: '2026-03-07T12:00:00.000Z',
    },
  );
  const [stored] = await selectRows<{ token_hash: string }>(storage, 'SELECT token_hash FROM agents WHERE id = ?', [data.id]);
  t.match(stored!.token_hash, /^[0-9a-f]{64}$/);
  t.not(stored!.token_hash, data.agentToken);
  t.notMatch(JSON.stringify(await selectRows(storage, 'SELECT * FROM agents')), data.agentToken);
});

onBothEngines('ip defaults to the client address; an invalid ip is a 400', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine);
  const agent = await register(app, { ip: undefined });
  t.equal(agent.body.ip, '127.0.0.1');
  const bad = await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload: { hostname: 'h2', os: 'linux', version: '1', ip: '999.1.1.1' } });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error, 'ip must be a valid IPv4 or IPv6 address');
  t.equal(await countIn(storage, 'agents'), 1);
  const v6 = await register(app, { hostname: 'h3', ip: '2001:db8::1' });
  t.equal(v6.body.ip, '2001:db8::1');
});

onBothEngines('registering the same hostname + org again returns the agent with a fresh token and kills the old one', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine);
  const first = await register(app, { org_id: 'acme', tags: ['a'] });
  clock.advance(5000);
  const res = await app.inject({
    method: 'POST',
    url: '/api/agents/register',
    headers: OPERATOR,
    payload: { hostname: 'web-01', os: 'linux', version: '2.0.0', ip: '10.0.0.6', org_id: 'acme', tags: ['b'] },
  });
  t.equal(res.statusCode, 200);
  const again = res.json().data;
  t.equal(again.id, first.id);
  t.not(again.agentToken, first.token);
  t.equal(again.version, '2.0.0');
  t.same(again.tags, ['b']);
  t.equal(again.lastHeartbeat, '2026-03-07T12:00:05.000Z');
  t.equal(await countIn(storage, 'agents'), 1);
  const old = await app.inject({ method: 'POST', url: `/api/agents/${first.id}/heartbeat`, headers: first.headers });
  t.equal(old.statusCode, 401);
  t.equal(old.json().error, 'Unauthorized');
  const fresh = await app.inject({ method: 'POST', url: `/api/agents/${first.id}/heartbeat`, headers: authHeader(again.agentToken) });
  t.equal(fresh.statusCode, 200);
  // Another org with the same hostname is another agent.
  const other = await register(app, { org_id: 'globex' });
  t.not(other.id, first.id);
  t.equal(await countIn(storage, 'agents'), 2);
});

onBothEngines('registration validation names the field and stores nothing', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine);
  const valid = { hostname: 'web-01', os: 'linux', version: '1.0.0' };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...valid, hostname: '' }, /hostname/],
    [{ ...valid, hostname: 'x'.repeat(254) }, /hostname/],
    [{ ...valid, hostname: 42 }, /hostname/],
    [{ os: 'linux', version: '1' }, /hostname is required/],
    [{ ...valid, os: 'x'.repeat(33) }, /^os /],
    [{ ...valid, os: 'bad os!' }, /^os /],
    [{ ...valid, version: '' }, /version/],
    [{ ...valid, version: 'v'.repeat(65) }, /version/],
    [{ ...valid, org_id: '' }, /org_id/],
    [{ ...valid, org_id: 'o'.repeat(65) }, /org_id/],
    [{ ...valid, tags: 'prod' }, /tags/],
    [{ ...valid, tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, /tags/],
    [{ ...valid, tags: [''] }, /tags\[0\]/],
    [{ ...valid, tags: ['t'.repeat(65)] }, /tags\[0\]/],
  ];
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload });
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 60));
    t.match(res.json().error, message);
  }
  const darwin = await register(app, { os: 'darwin' });
  t.equal(darwin.body.os, 'darwin');
  t.equal(await countIn(storage, 'agents'), 1);
  t.equal(await countIn(storage, 'agent_tags'), 0);
});

onBothEngines('401 without or with a wrong token, on every protected route', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  const agent = await register(app);
  const routes: [string, string][] = [
    ['POST', '/api/agents/register'],
    ['POST', `/api/agents/${agent.id}/heartbeat`],
    ['POST', `/api/agents/${agent.id}/events`],
    ['GET', '/api/agents'],
    ['GET', `/api/agents/${agent.id}`],
    ['DELETE', `/api/agents/${agent.id}`],
    ['GET', '/api/threats'],
    ['GET', '/api/threats/summary'],
    ['POST', '/api/policy'],
    ['GET', '/api/policy/active'],
    ['GET', '/api/policy/history'],
    ['GET', `/api/policy/agent/${agent.id}`],
    ['PUT', `/api/policy/agent/${agent.id}`],
    ['DELETE', `/api/policy/agent/${agent.id}`],
    ['GET', '/api/events/stream'],
    ['GET', '/api/overview'],
  ];
  for (const [method, url] of routes) {
    for (const headers of [{}, authHeader('wrong-token-0123456789abcdefghijklmnop'), authHeader('pga_' + 'x'.repeat(40)), { authorization: 'Basic abc' }]) {
      const res = await app.inject({ method: method as 'GET', url, headers, payload: method === 'GET' || method === 'DELETE' ? undefined : {} });
      t.equal(res.statusCode, 401, `${method} ${url}`);
      t.same(res.json(), { ok: false, error: 'Unauthorized', code: 'UNAUTHORIZED' });
    }
  }
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'health needs no token');
  t.equal((await app.inject({ url: '/' })).statusCode, 200, 'the dashboard page needs no token');
});

onBothEngines('an agent token works only on its own heartbeat, events and policy: 403 elsewhere', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine);
  const a = await register(app, { hostname: 'a' });
  const b = await register(app, { hostname: 'b' });
  const own: [string, string, unknown][] = [
    ['POST', `/api/agents/${a.id}/heartbeat`, { cpu: 1 }],
    ['POST', `/api/agents/${a.id}/events`, { events: [event()] }],
    ['GET', `/api/policy/agent/${a.id}`, undefined],
  ];
  for (const [method, url, payload] of own) {
    const res = await app.inject({ method: method as 'GET', url, headers: a.headers, payload: payload as object });
    t.ok(res.statusCode === 200 || res.statusCode === 201, `${method} ${url} allowed`);
  }
  const forbidden: [string, string, unknown][] = [
    ['POST', `/api/agents/${b.id}/heartbeat`, {}],
    ['POST', `/api/agents/${b.id}/events`, { events: [event()] }],
    ['GET', `/api/policy/agent/${b.id}`, undefined],
    ['POST', '/api/agents/register', { hostname: 'c', os: 'linux', version: '1' }],
    ['GET', '/api/agents', undefined],
    ['GET', `/api/agents/${a.id}`, undefined],
    ['DELETE', `/api/agents/${a.id}`, undefined],
    ['GET', '/api/threats', undefined],
    ['GET', '/api/threats/summary', undefined],
    ['POST', '/api/policy', { name: 'p', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] }],
    ['GET', '/api/policy/active', undefined],
    ['GET', '/api/policy/history', undefined],
    ['PUT', `/api/policy/agent/${a.id}`, { rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] }],
    ['DELETE', `/api/policy/agent/${a.id}`, undefined],
    ['GET', '/api/events/stream', undefined],
    ['GET', '/api/overview', undefined],
  ];
  const eventsBefore = await countIn(storage, 'threat_events');
  for (const [method, url, payload] of forbidden) {
    const res = await app.inject({ method: method as 'GET', url, headers: a.headers, payload: payload as object });
    t.equal(res.statusCode, 403, `${method} ${url}`);
    t.equal(res.json().error, 'Agent token not allowed here');
  }
  t.equal(await countIn(storage, 'threat_events'), eventsBefore, 'nothing stored by refused calls');
  t.equal(await countIn(storage, 'agents'), 2);
  t.equal(await countIn(storage, 'policies'), 0);
});

onBothEngines('the enroll token may only register', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine, { env: { MANAGER_ENROLL_TOKEN: ENROLL_TOKEN } });
  const agent = await register(app, { hostname: 'enrolled' }, authHeader(ENROLL_TOKEN));
  t.match(agent.token, AGENT_TOKEN);
  for (const [method, url] of [
    ['POST', `/api/agents/${agent.id}/heartbeat`],
    ['GET', '/api/agents'],
    ['GET', `/api/policy/agent/${agent.id}`],
    ['GET', '/api/overview'],
  ] as const) {
    const res = await app.inject({ method, url, headers: authHeader(ENROLL_TOKEN), payload: method === 'POST' ? {} : undefined });
    t.equal(res.statusCode, 403, `${method} ${url}`);
    t.equal(res.json().error, 'Enroll token may only register agents');
  }
  // The agent then works with its own token.
  t.equal((await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers })).statusCode, 200);
});

onBothEngines('without MANAGER_ENROLL_TOKEN no other token is accepted for registration', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  const res = await app.inject({ method: 'POST', url: '/api/agents/register', headers: authHeader(ENROLL_TOKEN), payload: { hostname: 'h', os: 'linux', version: '1' } });
  t.equal(res.statusCode, 401);
});

onBothEngines('heartbeat stores metrics, returns status and pendingPolicies; 404 for unknown agents', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine);
  const agent = await register(app);
  clock.advance(10_000);
  const res = await app.inject({
    method: 'POST',
    url: `/api/agents/${agent.id}/heartbeat`,
    headers: agent.headers,
    payload: { uptime: 3600, cpu: 12.5, memory: 40, version: '1.2.4' },
  });
  t.equal(res.statusCode, 200);
  t.same(res.json().data, { id: agent.id, status: 'online', lastHeartbeat: '2026-03-07T12:00:10.000Z', pendingPolicies: 0 });
  const detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
  t.equal(detail.cpu, 12.5);
  t.equal(detail.memory, 40);
  t.equal(detail.uptime, 3600);
  t.equal(detail.version, '1.2.4');
  t.equal(detail.lastHeartbeat, '2026-03-07T12:00:10.000Z');

  // A bare heartbeat (no body) is fine and clears the metrics it did not send.
  const bare = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers });
  t.equal(bare.statusCode, 200);
  t.equal((await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data.cpu, null);

  for (const payload of [{ cpu: 101 }, { memory: -1 }, { uptime: -5 }, { cpu: '5' }, { version: '' }, { policyVersion: 3 }]) {
    const bad = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload });
    t.equal(bad.statusCode, 400, JSON.stringify(payload));
    t.match(bad.json().error, new RegExp(`^${Object.keys(payload)[0]}`));
  }
  const hbBefore = await selectRows(storage, 'SELECT last_heartbeat_ms FROM agents');
  clock.advance(1000);
  await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { cpu: 500 } });
  t.same(await selectRows(storage, 'SELECT last_heartbeat_ms FROM agents'), hbBefore, 'a rejected heartbeat changes nothing');

  const missing = await app.inject({ method: 'POST', url: '/api/agents/agent-nope/heartbeat', headers: OPERATOR, payload: {} });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().error, 'Agent not found');
});

onBothEngines('pendingPolicies is 1 until the agent reports the version of the policy that applies to it', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  const agent = await register(app);
  const beat = async (payload: object = {}) =>
    (await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload })).json().data.pendingPolicies;
  t.equal(await beat(), 0, 'no policy, nothing pending');
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'base', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  t.equal(await beat(), 1);
  t.equal(await beat({ policyVersion: 'v1' }), 0);
  t.equal(await beat(), 0, 'the applied version is remembered');
  await app.inject({ method: 'PUT', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR, payload: { rules: [{ type: 'custom', config: { condition: 'c2', action: 'a' } }] } });
  t.equal(await beat({ policyVersion: 'v1' }), 1, 'an override is a new version to pull');
  t.equal(await beat({ policyVersion: 'v2' }), 0);
});

onBothEngines('list filters by status, org and tags (all must match) with pagination', async (t, engine) => {
  const { app, clock, config } = await buildManagerOn(t, engine);
  const old = await register(app, { hostname: 'old', org_id: 'acme', tags: ['prod'] });
  clock.advance(config.manager.offlineTimeoutMs);
  const stale = await register(app, { hostname: 'stale', org_id: 'acme', tags: ['prod', 'eu'] });
  clock.advance(config.manager.heartbeatTimeoutMs);
  const fresh = await register(app, { hostname: 'fresh', tags: ['prod', 'eu', 'db'] });

  const ids = async (query: string) => {
    const res = await app.inject({ url: `/api/agents${query}`, headers: OPERATOR });
    t.equal(res.statusCode, 200, query);
    return (res.json().data as { id: string }[]).map((a) => a.id);
  };
  t.same(await ids(''), [fresh.id, stale.id, old.id], 'newest registration first');
  t.same(await ids('?status=online'), [fresh.id]);
  t.same(await ids('?status=stale'), [stale.id]);
  t.same(await ids('?status=offline'), [old.id]);
  t.same(await ids('?org_id=acme'), [stale.id, old.id]);
  t.same(await ids('?org_id=default'), [fresh.id]);
  t.same(await ids('?tag=eu'), [fresh.id, stale.id]);
  t.same(await ids('?tag=eu&tag=db'), [fresh.id]);
  t.same(await ids('?tag=eu&tag=nope'), []);
  t.same(await ids('?tag=prod&org_id=acme&status=stale'), [stale.id]);

  const page = await app.inject({ url: '/api/agents?limit=2&page=2', headers: OPERATOR });
  t.same(page.json().pagination, { total: 3, page: 2, limit: 2, pages: 2 });
  t.same(page.json().data.map((a: { id: string }) => a.id), [old.id]);
  const statuses = (await app.inject({ url: '/api/agents', headers: OPERATOR })).json().data.map((a: { status: string }) => a.status);
  t.same(statuses, ['online', 'stale', 'offline']);

  for (const query of ['?status=dead', '?limit=0', '?limit=201', '?page=0', '?org_id=', '?page=x']) {
    const res = await app.inject({ url: `/api/agents${query}`, headers: OPERATOR });
    t.equal(res.statusCode, 400, query);
  }
  t.match((await app.inject({ url: '/api/agents?status=dead', headers: OPERATOR })).json().error, 'status must be one of online, stale, offline');
});

onBothEngines('detail: metrics, recentThreats of the last 24 h, activePolicyVersion and the applied one; 404', async (t, engine) => {
  const { app, clock } = await buildManagerOn(t, engine);
  const agent = await register(app, { org_id: 'acme' });
  const other = await register(app, { hostname: 'other', org_id: 'acme' });
  const day = 24 * 3600 * 1000;
  const post = (headers: Record<string, string>, id: string, events: object[]) => app.inject({ method: 'POST', url: `/api/agents/${id}/events`, headers, payload: { events } });
  await post(agent.headers, agent.id, [
    event({ timestamp: new Date(clock.now() - day - 1000).toISOString() }),
    event({ timestamp: new Date(clock.now() - day + 60_000).toISOString() }),
    event(),
  ]);
  await post(other.headers, other.id, [event()]);
  let detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
  t.equal(detail.recentThreats, 2);
  t.equal(detail.activePolicyVersion, null);
  t.equal(detail.cpu, null);
  const rules = [{ type: 'custom', config: { condition: 'c', action: 'a' } }];
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'global', rules } });
  detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
  t.equal(detail.activePolicyVersion, 'v1');
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'acme', rules, org_id: 'acme' } });
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'global 2', rules } });
  detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
  t.equal(detail.activePolicyVersion, 'v2', 'the org policy wins over a newer global one');
  t.equal(detail.appliedPolicyVersion, null, 'nothing reported applied yet');
  await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { policyVersion: 'v1' } });
  detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
  t.same([detail.activePolicyVersion, detail.appliedPolicyVersion], ['v2', 'v1'], 'drift: v2 applies, the agent still runs v1');
  clock.advance(day + 1);
  detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
  t.equal(detail.recentThreats, 0);
  t.equal(detail.status, 'offline');
  const missing = await app.inject({ url: '/api/agents/agent-missing', headers: OPERATOR });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().error, 'Agent not found');
});

onBothEngines('deregister removes the agent and its token but keeps its events', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine);
  const agent = await register(app, { tags: ['x'] });
  await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [event(), event()] } });
  const res = await app.inject({ method: 'DELETE', url: `/api/agents/${agent.id}`, headers: OPERATOR });
  t.equal(res.statusCode, 200);
  t.same(res.json().data, { message: `Agent ${agent.id} deregistered successfully` });
  t.equal(await countIn(storage, 'agents'), 0);
  t.equal(await countIn(storage, 'agent_tags'), 0);
  t.equal(await countIn(storage, 'threat_events'), 2);
  const threats = (await app.inject({ url: `/api/threats?agent_id=${agent.id}`, headers: OPERATOR })).json();
  t.equal(threats.pagination.total, 2);
  t.equal((await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers })).statusCode, 401);
  t.equal((await app.inject({ method: 'DELETE', url: `/api/agents/${agent.id}`, headers: OPERATOR })).statusCode, 404);
  t.equal((await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).statusCode, 404);
});

onBothEngines('rate limit: per agent once its token is verified, per IP otherwise; 401s count; /health exempt', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine, { env: { MANAGER_RATE_LIMIT: '5' } });
  const a = await register(app, { hostname: 'a' });
  const b = await register(app, { hostname: 'b' });
  // Two registrations used 2 of the IP's 5; agents have their own buckets.
  for (let i = 0; i < 5; i++) {
    t.equal((await app.inject({ method: 'POST', url: `/api/agents/${a.id}/heartbeat`, headers: a.headers })).statusCode, 200);
  }
  const limited = await app.inject({ method: 'POST', url: `/api/agents/${a.id}/heartbeat`, headers: a.headers });
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().error, 'Too many requests. Please try again later.');
  t.ok(limited.headers['retry-after']);
  t.equal((await app.inject({ method: 'POST', url: `/api/agents/${b.id}/heartbeat`, headers: b.headers })).statusCode, 200, 'agent b has its own bucket');
  // The IP bucket: 3 left, spent by failed logins, then even the operator is limited.
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/api/agents', headers: authHeader('bad-token-0123456789abcdefghijklmnopqrstu') })).statusCode, 401);
  t.equal((await app.inject({ url: '/api/agents', headers: OPERATOR })).statusCode, 429);
  t.equal((await app.inject({ url: '/health' })).statusCode, 200);
});

onBothEngines('a registration hook (the later quota check) can refuse a new agent inside the transaction', async (t, engine) => {
  const seen: { orgId: string; hostname: string }[] = [];
  const { app, storage } = await buildManagerOn(t, engine, {
    manager: {
      registrationHooks: [
        async (_tx, agent) => {
          seen.push(agent);
          if (agent.orgId === 'full') throw forbidden('Guard endpoint quota reached');
        },
      ],
    },
  });
  const res = await app.inject({ method: 'POST', url: '/api/agents/register', headers: OPERATOR, payload: { hostname: 'h', os: 'linux', version: '1', org_id: 'full', tags: ['x'] } });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'Guard endpoint quota reached');
  t.equal(await countIn(storage, 'agents'), 0);
  t.equal(await countIn(storage, 'agent_tags'), 0);
  t.equal(await countIn(storage, 'stream_events'), 0, 'nothing announced');
  const okAgent = await register(app, { org_id: 'acme' });
  await register(app, { org_id: 'acme' });
  t.same(seen, [{ orgId: 'full', hostname: 'h' }, { orgId: 'acme', hostname: 'web-01' }], 're-registering a known agent is not a new endpoint');
  t.match(okAgent.id, /^agent-/);
});
