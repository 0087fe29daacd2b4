import { buildManagerOn, countIn, onBothEngines, OPERATOR, register } from './fixtures.js';

const blockIp = { type: 'block_ip', config: { trigger: 'brute_force', threshold: 5, duration: '24h', scope: 'host' } };
const alert = { type: 'alert_threshold', config: { severity: 'high', countPerHour: 10, notifyChannels: ['email', 'slack'] } };
const respond = { type: 'auto_respond', config: { trigger: 'malware_detected', action: 'quarantine_file', minConfidence: 0.8, requireApproval: true } };
const custom = { type: 'custom', config: { condition: 'event.type == "x"', action: 'log', params: { level: 'warn' } }, enabled: false };

onBothEngines('create: 201 with version vN, rules with enabled defaulting to true, broadcastedTo', async (t, engine) => {
  const { app, clock, config } = await buildManagerOn(t, engine);
  await register(app, { hostname: 'online-1' });
  await register(app, { hostname: 'acme-1', org_id: 'acme' });
  clock.advance(config.manager.heartbeatTimeoutMs);
  await register(app, { hostname: 'online-2' });
  const res = await app.inject({
    method: 'POST',
    url: '/api/policy',
    headers: OPERATOR,
    payload: { name: 'Baseline', description: 'Default fleet rules', rules: [blockIp, alert, respond, custom] },
  });
  t.equal(res.statusCode, 201);
  const data = res.json().data;
  t.match(data.id, /^pol_/);
  t.same({ ...data, id: undefined }, {
    id: undefined,
    name: 'Baseline',
    description: 'Default fleet rules',
    version: 'v1',
    orgId: null,
    agentId: null,
    rules: [{ ...blockIp, enabled: true }, { ...alert, enabled: true }, { ...respond, enabled: true }, custom],
    broadcastedTo: 1,
    createdAt: new Date(clock.now()).toISOString(),
  });
  const org = (await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'Acme', rules: [blockIp], org_id: 'acme' } })).json().data;
  t.equal(org.version, 'v2');
  t.equal(org.orgId, 'acme');
  t.equal(org.broadcastedTo, 0, 'the acme agent is stale');
  const again = (await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'Global 2', rules: [blockIp] } })).json().data;
  t.equal(again.version, 'v3');
});

onBothEngines('broadcastedTo counts the online agents a policy applies to (override and org policies shadow)', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  const plain = await register(app, { hostname: 'plain' });
  await register(app, { hostname: 'acme-1', org_id: 'acme' });
  await register(app, { hostname: 'acme-2', org_id: 'acme' });
  const create = async (payload: object) => (await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload })).json().data;
  t.equal((await create({ name: 'g1', rules: [blockIp] })).broadcastedTo, 3);
  t.equal((await create({ name: 'acme', rules: [blockIp], org_id: 'acme' })).broadcastedTo, 2);
  t.equal((await create({ name: 'g2', rules: [blockIp] })).broadcastedTo, 1, 'acme agents follow their org policy');
  const override = await app.inject({ method: 'PUT', url: `/api/policy/agent/${plain.id}`, headers: OPERATOR, payload: { rules: [alert] } });
  t.equal(override.json().data.broadcastedTo, 1);
  t.equal((await create({ name: 'g3', rules: [blockIp] })).broadcastedTo, 0, 'the only global agent has an override');
});

onBothEngines('rule configs are validated per type, naming the field; nothing stored', async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine);
  const with_ = (rule: object) => ({ name: 'p', rules: [blockIp, rule] });
  const cases: [object, string][] = [
    [with_({ ...blockIp, config: { ...blockIp.config, threshold: 0 } }), 'rules[1].config.threshold must be >= 1'],
    [with_({ ...blockIp, config: { ...blockIp.config, threshold: 1.5 } }), 'rules[1].config.threshold'],
    [with_({ ...blockIp, config: { ...blockIp.config, duration: 'forever' } }), 'rules[1].config.duration'],
    [with_({ ...blockIp, config: { ...blockIp.config, scope: 'world' } }), 'rules[1].config.scope must be one of host, fleet'],
    [with_({ ...blockIp, config: { threshold: 1, duration: '1h', scope: 'host' } }), 'rules[1].config.trigger is required'],
    [with_({ ...alert, config: { ...alert.config, severity: 'meh' } }), 'rules[1].config.severity must be one of low, medium, high, critical'],
    [with_({ ...alert, config: { ...alert.config, countPerHour: 0 } }), 'rules[1].config.countPerHour'],
    [with_({ ...alert, config: { ...alert.config, notifyChannels: 'email' } }), 'rules[1].config.notifyChannels'],
    [with_({ ...respond, config: { ...respond.config, action: 'reboot' } }), 'rules[1].config.action must be one of kill_process, quarantine_file, block_ip, isolate_host'],
    [with_({ ...respond, config: { ...respond.config, minConfidence: 2 } }), 'rules[1].config.minConfidence'],
    [with_({ ...respond, config: { ...respond.config, requireApproval: 'yes' } }), 'rules[1].config.requireApproval'],
    [with_({ ...custom, config: { condition: 'c'.repeat(1001), action: 'a' } }), 'rules[1].config.condition'],
    [with_({ ...custom, config: { condition: 'c' } }), 'rules[1].config.action is required'],
    [with_({ ...custom, config: { condition: 'c', action: 'a', params: [] } }), 'rules[1].config.params'],
    [with_({ type: 'reboot', config: {} }), 'rules[1].type must be one of block_ip, alert_threshold, auto_respond, custom'],
    [with_({ ...blockIp, enabled: 'true' }), 'rules[1].enabled'],
    [with_({ type: 'custom' }), 'rules[1].config is required'],
    [{ name: 'p', rules: [] }, 'rules'],
    [{ name: 'p', rules: Array.from({ length: 101 }, () => blockIp) }, 'rules'],
    [{ name: '', rules: [blockIp] }, 'name'],
    [{ name: 'n'.repeat(101), rules: [blockIp] }, 'name'],
    [{ name: 'p', description: 'd'.repeat(1001), rules: [blockIp] }, 'description'],
    [{ name: 'p', rules: [blockIp], org_id: '' }, 'org_id'],
    [{ rules: [blockIp] }, 'name is required'],
  ];
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload });
    t.equal(res.statusCode, 400, message);
    t.match(res.json().error, message);
  }
  const agent = await register(app);
  const put = await app.inject({ method: 'PUT', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR, payload: { rules: [{ ...blockIp, config: { ...blockIp.config, threshold: -1 } }] } });
  t.equal(put.statusCode, 400);
  t.equal(put.json().error, 'rules[0].config.threshold must be >= 1');
  t.equal(await countIn(storage, 'policies'), 0);
  for (const duration of ['1h', '24h', '7d', 'permanent', '15m', '3d']) {
    const ok = await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'p', rules: [{ ...blockIp, config: { ...blockIp.config, duration } }] } });
    t.equal(ok.statusCode, 201, duration);
  }
});

onBothEngines('active: newest global without org_id; with org_id the org policy else the global; null when none', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  const active = async (query = '') => (await app.inject({ url: `/api/policy/active${query}`, headers: OPERATOR })).json();
  t.same(await active(), { ok: true, data: null });
  t.same(await active('?org_id=acme'), { ok: true, data: null });
  const create = (payload: object) => app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload });
  await create({ name: 'g1', rules: [blockIp] });
  await create({ name: 'acme', rules: [alert], org_id: 'acme' });
  t.equal((await active()).data.version, 'v1', 'org policies are not the global one');
  t.equal((await active('?org_id=acme')).data.version, 'v2');
  t.equal((await active('?org_id=globex')).data.version, 'v1', 'an org without its own policy gets the global one');
  await create({ name: 'g2', rules: [blockIp] });
  t.equal((await active()).data.version, 'v3');
  t.equal((await active('?org_id=acme')).data.version, 'v2');
  t.equal((await active('?org_id=acme')).data.name, 'acme');
});

onBothEngines('agent policy: override, else org, else global; PUT and DELETE overrides; 404s', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  const agent = await register(app, { org_id: 'acme' });
  const view = async (headers = agent.headers) => {
    const res = await app.inject({ url: `/api/policy/agent/${agent.id}`, headers });
    t.equal(res.statusCode, 200);
    return res.json().data;
  };
  t.same(await view(), { agentId: agent.id, policyVersion: null, rules: [], appliedAt: null });
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'g', rules: [blockIp] } });
  t.equal((await view()).policyVersion, 'v1');
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'acme', rules: [alert], org_id: 'acme' } });
  t.same((await view()).rules, [{ ...alert, enabled: true }]);
  t.equal((await view(OPERATOR)).policyVersion, 'v2', 'the operator may read it too');

  const put = await app.inject({ method: 'PUT', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR, payload: { rules: [respond] } });
  t.equal(put.statusCode, 200);
  t.equal(put.json().data.version, 'v3');
  t.equal(put.json().data.agentId, agent.id);
  const v = await view();
  t.equal(v.policyVersion, 'v3');
  t.same(v.rules, [{ ...respond, enabled: true }]);
  const replaced = await app.inject({ method: 'PUT', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR, payload: { rules: [custom] } });
  t.equal(replaced.json().data.version, 'v4');
  t.equal((await view()).policyVersion, 'v4');

  const del = await app.inject({ method: 'DELETE', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR });
  t.equal(del.statusCode, 200);
  t.same(del.json().data, { message: `Policy override removed for agent ${agent.id}` });
  t.equal((await view()).policyVersion, 'v2', 'back to the org policy');
  const again = await app.inject({ method: 'DELETE', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR });
  t.equal(again.statusCode, 404);
  t.equal(again.json().error, 'No policy override for this agent');

  for (const [method, payload] of [['GET', undefined], ['PUT', { rules: [blockIp] }], ['DELETE', undefined]] as const) {
    const res = await app.inject({ method, url: '/api/policy/agent/agent-unknown', headers: OPERATOR, payload });
    t.equal(res.statusCode, 404, method);
    t.equal(res.json().error, 'Agent not found');
  }
});

onBothEngines('history lists every version newest first, paginated; the overview shows the newest global version', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  const agent = await register(app);
  const create = (payload: object) => app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload });
  await create({ name: 'g1', rules: [blockIp] });
  await create({ name: 'o1', rules: [blockIp], org_id: 'acme' });
  await app.inject({ method: 'PUT', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR, payload: { rules: [alert] } });
  await create({ name: 'g2', rules: [blockIp] });
  const res = await app.inject({ url: '/api/policy/history?limit=3', headers: OPERATOR });
  t.equal(res.statusCode, 200);
  t.same(res.json().data.map((p: { version: string }) => p.version), ['v4', 'v3', 'v2']);
  t.same(res.json().pagination, { total: 4, page: 1, limit: 3, pages: 2 });
  const page2 = (await app.inject({ url: '/api/policy/history?limit=3&page=2', headers: OPERATOR })).json();
  t.same(page2.data.map((p: { name: string }) => p.name), ['g1']);
  t.equal((await app.inject({ url: '/api/policy/history?limit=0', headers: OPERATOR })).statusCode, 400);
  t.equal((await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data.activePolicyVersion, 'v4');
});
