import { event, buildManagerOn, countIn, onBothEngines, OPERATOR, register } from './fixtures.js';
import { selectRows } from '../engines.js';

onBothEngines('a batch is stored with ids, normalised timestamps and the agent hostname', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine);
  const agent = await register(app, { org_id: 'acme' });
  clock.advance(1000);
  const res = await app.inject({
    method: 'POST',
    url: `/api/agents/${agent.id}/events`,
    headers: agent.headers,
    payload: {
      events: [
        event({ ruleId: 'ssh-bf', confidence: 0.9, timestamp: '2026-03-07T11:59:00Z' }),
        event({ type: 'port_scan', severity: 'low', details: { ports: [22, 80] } }),
      ],
    },
  });
  t.equal(res.statusCode, 201);
  const data = res.json().data;
  t.equal(data.received, 2);
  t.equal(data.eventIds.length, 2);
  for (const id of data.eventIds) t.match(id, /^evt_[0-9a-f]{32}$/);
  const threats = (await app.inject({ url: '/api/threats', headers: OPERATOR })).json().data;
  t.same(threats[0], {
    id: data.eventIds[1],
    agentId: agent.id,
    hostname: 'web-01',
    type: 'port_scan',
    severity: 'low',
    confidence: null,
    details: { ports: [22, 80] },
    ruleId: null,
    timestamp: '2026-03-07T12:00:01.000Z',
    receivedAt: '2026-03-07T12:00:01.000Z',
  });
  t.same(threats[1], {
    id: data.eventIds[0],
    agentId: agent.id,
    hostname: 'web-01',
    type: 'brute_force',
    severity: 'high',
    confidence: 0.9,
    details: { sourceIp: '203.0.113.7', attempts: 12 },
    ruleId: 'ssh-bf',
    timestamp: '2026-03-07T11:59:00.000Z',
    receivedAt: '2026-03-07T12:00:01.000Z',
  });
  t.same(await selectRows(storage, 'SELECT DISTINCT org_id FROM threat_events'), [{ org_id: 'acme' }]);
});

onBothEngines('a bad item is a 400 naming its index, and none of the batch is stored', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine);
  const agent = await register(app);
  const future = new Date(clock.now() + 5 * 60_000 + 1000).toISOString();
  const nearFuture = new Date(clock.now() + 4 * 60_000).toISOString();
  const many = (n: number) => Array.from({ length: n }, () => event());
  const cases: [unknown, string][] = [
    [{ events: [event(), event(), event(), event({ severity: 'severe' })] }, 'events[3].severity must be one of low, medium, high, critical'],
    [{ events: [event(), event({ type: '' })] }, 'events[1].type'],
    [{ events: [event({ type: 't'.repeat(65) })] }, 'events[0].type'],
    [{ events: [event({ details: 'text' })] }, 'events[0].details'],
    [{ events: [event({ details: undefined })] }, 'events[0].details is required'],
    [{ events: [event(), event({ details: { blob: 'x'.repeat(16 * 1024) } })] }, 'events[1].details must be at most 16 KiB serialised'],
    [{ events: [event({ timestamp: 'yesterday' })] }, 'events[0].timestamp'],
    [{ events: [event(), event({ timestamp: future })] }, 'events[1].timestamp must not be more than 5 minutes in the future'],
    [{ events: [event({ confidence: 1.5 })] }, 'events[0].confidence'],
    [{ events: [event({ confidence: '0.5' })] }, 'events[0].confidence'],
    [{ events: [event({ ruleId: 'r'.repeat(65) })] }, 'events[0].ruleId'],
    [{ events: [] }, 'events'],
    [{ events: many(501) }, 'events'],
    [{}, 'events is required'],
    [{ events: 'x' }, 'events'],
  ];
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: payload as object });
    t.equal(res.statusCode, 400, message);
    t.match(res.json().error, message);
  }
  t.equal(await countIn(storage, 'threat_events'), 0);
  t.equal(await countIn(storage, 'stream_events'), 1, 'only the registration was announced');

  const edge = await app.inject({
    method: 'POST',
    url: `/api/agents/${agent.id}/events`,
    headers: agent.headers,
    payload: { events: [...many(499), event({ timestamp: nearFuture, details: { blob: 'x'.repeat(16 * 1024 - 20) } })] },
  });
  t.equal(edge.statusCode, 201, '500 items, 4 min ahead and just under 16 KiB are accepted');
  t.equal(await countIn(storage, 'threat_events'), 500);
});

onBothEngines('a batch is all or nothing when the transaction fails midway', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine, {
    manager: {
      ingestHooks: [
        async (_tx, _agent, rows) => {
          if (rows.some((row) => row.type === 'explode')) throw new Error('hook failed');
        },
      ],
    },
  });
  const agent = await register(app);
  const res = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [event(), event({ type: 'explode' })] } });
  t.equal(res.statusCode, 500);
  t.equal(res.json().error, 'Internal server error');
  t.equal(await countIn(storage, 'threat_events'), 0);
  t.equal((await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [event()] } })).statusCode, 201);
});

onBothEngines('events for an unknown agent are a 404; bodies up to 8 MiB are read, larger is 413', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine);
  const agent = await register(app);
  const res = await app.inject({ method: 'POST', url: '/api/agents/agent-none/events', headers: OPERATOR, payload: { events: [event()] } });
  t.equal(res.statusCode, 404);
  t.equal(res.json().error, 'Agent not found');
  // ~2 MiB: over the 1 MiB default, under the route's 8 MiB.
  const big = Array.from({ length: 200 }, () => event({ details: { blob: 'y'.repeat(10_000) } }));
  t.equal((await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: big } })).statusCode, 201);
  const huge = JSON.stringify({ events: Array.from({ length: 500 }, () => event({ details: { blob: 'z'.repeat(16_300) } })) }) + ' '.repeat(600_000);
  const tooLarge = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: { ...agent.headers, 'content-type': 'application/json' }, payload: huge });
  t.equal(tooLarge.statusCode, 413);
  t.equal(await countIn(storage, 'threat_events'), 200);
});

onBothEngines('threats query: filters, pagination, newest first; bad ISO time is 400', async (t, engine) => {
  const { app, clock } = await buildManagerOn(t, engine);
  const a = await register(app, { hostname: 'a', org_id: 'acme' });
  const b = await register(app, { hostname: 'b' });
  const at = (minutesAgo: number) => new Date(clock.now() - minutesAgo * 60_000).toISOString();
  await app.inject({
    method: 'POST',
    url: `/api/agents/${a.id}/events`,
    headers: a.headers,
    payload: { events: [event({ timestamp: at(30), severity: 'critical' }), event({ timestamp: at(20), type: 'port_scan', severity: 'low' })] },
  });
  await app.inject({ method: 'POST', url: `/api/agents/${b.id}/events`, headers: b.headers, payload: { events: [event({ timestamp: at(10) }), event({ timestamp: at(40), type: 'malware_detected', severity: 'critical' })] } });

  const list = async (query: string) => {
    const res = await app.inject({ url: `/api/threats${query}`, headers: OPERATOR });
    t.equal(res.statusCode, 200, query);
    return res.json();
  };
  const times = (body: { data: { timestamp: string }[] }) => body.data.map((e) => e.timestamp);
  t.same(times(await list('')), [at(10), at(20), at(30), at(40)]);
  t.same(times(await list(`?org_id=acme`)), [at(20), at(30)]);
  t.same(times(await list(`?agent_id=${b.id}`)), [at(10), at(40)]);
  t.same(times(await list('?severity=critical')), [at(30), at(40)]);
  t.same(times(await list('?type=port_scan')), [at(20)]);
  t.same(times(await list(`?since=${at(25)}`)), [at(10), at(20)]);
  t.same(times(await list(`?until=${at(25)}`)), [at(30), at(40)]);
  t.same(times(await list(`?since=${at(35)}&until=${at(15)}&severity=critical&org_id=acme`)), [at(30)]);
  const page = await list('?limit=3&page=2');
  t.same(times(page), [at(40)]);
  t.same(page.pagination, { total: 4, page: 2, limit: 3, pages: 2 });
  const none = await list('?type=nothing');
  t.same(none.pagination, { total: 0, page: 1, limit: 50, pages: 0 });

  for (const query of ['?since=yesterday', '?until=2026-13-01T00:00:00Z', '?severity=huge', '?limit=500', '?page=0']) {
    const res = await app.inject({ url: `/api/threats${query}`, headers: OPERATOR });
    t.equal(res.statusCode, 400, query);
  }
  t.equal((await app.inject({ url: '/api/threats?since=yesterday', headers: OPERATOR })).json().error, 'since must be an ISO 8601 date-time');
});

onBothEngines('summary by period with severity, types, top agents and top source IPs', async (t, engine) => {
  const { app, clock } = await buildManagerOn(t, engine);
  const a = await register(app, { hostname: 'a', org_id: 'acme' });
  const b = await register(app, { hostname: 'b' });
  const hoursAgo = (h: number) => new Date(clock.now() - h * 3600_000).toISOString();
  await app.inject({
    method: 'POST',
    url: `/api/agents/${a.id}/events`,
    headers: a.headers,
    payload: {
      events: [
        event({ timestamp: hoursAgo(0.5), details: { sourceIp: '198.51.100.1' } }),
        event({ timestamp: hoursAgo(0.5), details: { source_ip: '198.51.100.1' } }),
        event({ timestamp: hoursAgo(3), type: 'port_scan', severity: 'low', details: { srcIp: '198.51.100.2' } }),
        event({ timestamp: hoursAgo(48), severity: 'critical', details: { remoteAddress: '198.51.100.3' } }),
      ],
    },
  });
  await app.inject({
    method: 'POST',
    url: `/api/agents/${b.id}/events`,
    headers: b.headers,
    payload: { events: [event({ timestamp: hoursAgo(0.2), type: 'malware_detected', severity: 'critical', details: { sourceIp: 'not-an-ip' } })] },
  });
  const summary = async (query: string) => {
    const res = await app.inject({ url: `/api/threats/summary${query}`, headers: OPERATOR });
    t.equal(res.statusCode, 200, query);
    return res.json().data;
  };
  t.same(await summary(''), {
    period: '24h',
    total: 4,
    bySeverity: { low: 1, medium: 0, high: 2, critical: 1 },
    byType: { brute_force: 2, port_scan: 1, malware_detected: 1 },
    topAgents: [
      { agentId: a.id, hostname: 'a', count: 3 },
      { agentId: b.id, hostname: 'b', count: 1 },
    ],
    topSourceIps: [
      { ip: '198.51.100.1', count: 2 },
      { ip: '198.51.100.2', count: 1 },
    ],
  });
  const hour = await summary('?period=1h');
  t.equal(hour.total, 3);
  t.same(hour.bySeverity, { low: 0, medium: 0, high: 2, critical: 1 });
  const week = await summary('?period=7d&org_id=acme');
  t.equal(week.total, 4);
  t.same(week.topSourceIps.map((x: { ip: string }) => x.ip), ['198.51.100.1', '198.51.100.2', '198.51.100.3']);
  t.equal((await summary('?period=30d&org_id=nobody')).total, 0);
  const bad = await app.inject({ url: '/api/threats/summary?period=2d', headers: OPERATOR });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error, 'period must be one of 1h, 6h, 24h, 7d, 30d');
});

onBothEngines('overview: agent counts by status and os, threat summaries, top threats, active policy', async (t, engine) => {
  const { app, clock, config } = await buildManagerOn(t, engine);
  const empty = (await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data;
  t.same(empty, {
    totalAgents: 0,
    onlineAgents: 0,
    staleAgents: 0,
    offlineAgents: 0,
    threatSummary: { last24h: { total: 0, critical: 0, high: 0, medium: 0, low: 0 }, last7d: { total: 0, critical: 0, high: 0, medium: 0, low: 0 } },
    activePolicyVersion: null,
    topThreats: [],
    agentsByOs: {},
    updatedAt: '2026-03-07T12:00:00.000Z',
  });
  const old = await register(app, { hostname: 'old', os: 'win32' });
  const daysAgo = (d: number) => new Date(clock.now() - d * 86_400_000).toISOString();
  await app.inject({
    method: 'POST',
    url: `/api/agents/${old.id}/events`,
    headers: old.headers,
    payload: {
      events: [
        event({ timestamp: daysAgo(0.1), severity: 'critical' }),
        event({ timestamp: daysAgo(2), type: 'port_scan', severity: 'low' }),
        event({ timestamp: daysAgo(3), type: 'port_scan', severity: 'medium' }),
        event({ timestamp: daysAgo(8), type: 'ancient' }),
        ...['a', 'b', 'c', 'd', 'e'].map((type) => event({ timestamp: daysAgo(1.5), type: `t_${type}` })),
      ],
    },
  });
  clock.advance(config.manager.heartbeatTimeoutMs);
  await register(app, { hostname: 'mid', os: 'linux' });
  clock.advance(config.manager.offlineTimeoutMs - config.manager.heartbeatTimeoutMs);
  await register(app, { hostname: 'new', os: 'linux' });
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'p', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  const data = (await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data;
  t.equal(data.totalAgents, 3);
  t.equal(data.onlineAgents, 1);
  t.equal(data.staleAgents, 1);
  t.equal(data.offlineAgents, 1);
  t.same(data.agentsByOs, { linux: 2, win32: 1 });
  t.same(data.threatSummary.last24h, { total: 1, critical: 1, high: 0, medium: 0, low: 0 });
  t.same(data.threatSummary.last7d, { total: 8, critical: 1, high: 5, medium: 1, low: 1 });
  t.equal(data.topThreats.length, 5);
  t.same(data.topThreats[0], { type: 'port_scan', count: 2 });
  t.notOk(data.topThreats.some((x: { type: string }) => x.type === 'ancient'));
  t.equal(data.activePolicyVersion, 'v1');
  t.equal(data.updatedAt, new Date(clock.now()).toISOString());

  const health = (await app.inject({ url: '/health' })).json().data;
  t.same(health.agents, { total: 3, online: 1 });
  t.equal(health.status, 'healthy');
});
