import t, { type Test } from 'tap';
import { createOrgData } from '../../src/bridges/auth-to-manager-org-data.js';
import { createEventStore } from '../../src/manager/stores/events.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import type { App } from '../../src/shared/base-app.js';
import { COUNT_CAP } from '../../src/shared/capped-total.js';
import { ManualClock } from '../../src/shared/clock.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase } from '../../src/shared/db/open.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { execute, selectRows } from '../engines.js';
import { filterCombinations, testConfig } from '../helper.js';
import { buildManager, buildManagerOn, onBothEngines, OPERATOR, register, type RegisteredAgent } from './fixtures.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PERIODS = { '1h': HOUR, '6h': 6 * HOUR, '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY } as const;
const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
const TYPES = ['brute_force', 'port_scan', 'malware_detected', 'file_integrity', 'c2_connection'] as const;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `count` event inputs at random times within `spanMs` before now, in batches of 500. */
function randomBatches(now: number, count: number, spanMs: number, next: () => number) {
  const batches = [];
  for (let done = 0; done < count; done += 500) {
    batches.push(
      Array.from({ length: Math.min(500, count - done) }, () => {
        const roll = next();
        return {
          type: roll < 0.02 ? `rare_${Math.floor(next() * 1000)}` : TYPES[Math.floor(next() * TYPES.length)]!,
          severity: SEVERITIES[Math.floor(next() * 4)]!,
          // Private addresses: stored as the event's source IP, never reported to the Threat Cloud.
          details: roll < 0.7 ? { sourceIp: `10.0.0.${Math.floor(next() * 40)}` } : { note: 'no address' },
          timestamp: new Date(now - Math.floor(next() * spanMs)).toISOString(),
        };
      }),
    );
  }
  return batches;
}

/** `count` events of the agent at random times within `spanMs` before now, posted in batches of 500. */
async function ingest(app: App, agent: RegisteredAgent, now: number, count: number, spanMs: number, next: () => number): Promise<void> {
  for (const events of randomBatches(now, count, spanMs, next)) {
    const res = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events } });
    if (res.statusCode !== 201) throw new Error(`ingest: ${res.statusCode} ${res.body}`);
  }
}

/**
 * The same events stored through the event store itself, a batch per transaction as ingestion
 * stores them, without HTTP: ten thousand events over the API took half a minute on PostgreSQL.
 */
async function storeEvents(storage: Storage, agent: { id: string; orgId: string; hostname: string }, now: number, count: number, spanMs: number, next: () => number) {
  const store = createEventStore(storage);
  let n = 0;
  for (const events of randomBatches(now, count, spanMs, next)) {
    const rows = events.map((input) => ({
      id: `evt_${agent.hostname}_${n++}`,
      agent_id: agent.id,
      org_id: agent.orgId,
      hostname: agent.hostname,
      type: input.type,
      severity: input.severity,
      confidence: null,
      rule_id: null,
      details: JSON.stringify(input.details),
      source_ip: (input.details as { sourceIp?: string }).sourceIp ?? null,
      timestamp: input.timestamp,
      timestamp_ms: Date.parse(input.timestamp),
      received_at: new Date(now).toISOString(),
    }));
    await storage.transaction({ durable: false }, (tx) => store.insertBatch(tx, rows));
  }
}

/** The summary as the Manager computed it before the kept counts: aggregates over the events. */
async function referenceSummary(storage: Storage, period: keyof typeof PERIODS, sinceMs: number, orgId?: string) {
  const where = `WHERE timestamp_ms >= @sinceMs ${orgId === undefined ? '' : 'AND org_id = @orgId'}`;
  const params = { sinceMs, ...(orgId === undefined ? {} : { orgId }) };
  const all = <T>(sql: string) => selectRows<T>(storage, sql, params);
  const bySeverity = { low: 0, medium: 0, high: 0, critical: 0 } as Record<string, number>;
  let total = 0;
  for (const row of await all<{ key: string; n: number }>(`SELECT severity AS key, COUNT(*) AS n FROM threat_events ${where} GROUP BY severity`)) {
    bySeverity[row.key] = row.n;
    total += row.n;
  }
  return {
    period,
    total,
    bySeverity,
    byType: Object.fromEntries((await all<{ key: string; n: number }>(`SELECT type AS key, COUNT(*) AS n FROM threat_events ${where} GROUP BY type ORDER BY n DESC, type LIMIT 100`)).map((r) => [r.key, r.n])),
    topAgents: (await all<{ key: string; hostname: string; n: number }>(
      `SELECT agent_id AS key, MAX(hostname) AS hostname, COUNT(*) AS n FROM threat_events ${where} GROUP BY agent_id ORDER BY n DESC, agent_id LIMIT 10`,
    )).map((r) => ({ agentId: r.key, hostname: r.hostname, count: r.n })),
    topSourceIps: (await all<{ key: string; n: number }>(
      `SELECT source_ip AS key, COUNT(*) AS n FROM threat_events ${where} AND source_ip IS NOT NULL GROUP BY source_ip ORDER BY n DESC, source_ip LIMIT 10`,
    )).map((r) => ({ ip: r.key, count: r.n })),
  };
}

/** Every summary, the overview's threat figures and each agent's recent threats against the events themselves. */
async function checkCounts(t: Test, app: App, storage: Storage, now: number, agents: RegisteredAgent[], label: string) {
  for (const period of Object.keys(PERIODS) as (keyof typeof PERIODS)[]) {
    for (const orgId of [undefined, 'default', 'acme', 'nobody']) {
      const res = await app.inject({ url: `/api/threats/summary?period=${period}${orgId ? `&org_id=${orgId}` : ''}`, headers: OPERATOR });
      t.same(res.json().data, await referenceSummary(storage, period, now - PERIODS[period], orgId), `${label}: summary ${period} ${orgId ?? 'all orgs'}`);
    }
  }
  const overview = (await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data;
  const day = await referenceSummary(storage, '24h', now - DAY);
  const week = await referenceSummary(storage, '7d', now - 7 * DAY);
  t.same(overview.threatSummary, { last24h: { total: day.total, ...day.bySeverity }, last7d: { total: week.total, ...week.bySeverity } }, `${label}: overview summaries`);
  t.same(overview.topThreats, Object.entries(week.byType).slice(0, 5).map(([type, count]) => ({ type, count })), `${label}: overview top threats`);
  for (const agent of agents) {
    const detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
    const [expected] = await selectRows<{ n: number }>(storage, 'SELECT COUNT(*) AS n FROM threat_events WHERE agent_id = ? AND timestamp_ms >= ?', [agent.id, now - DAY]);
    t.equal(detail.recentThreats, expected!.n, `${label}: recent threats of ${agent.id}`);
  }
}

const COUNTED_COLUMNS = { severity: 'severity', type: 'type', agent: 'agent_id', ip: 'source_ip' } as const;

/**
 * The kept rows equal a recount from the events, with every window starting at `now − span`
 * (where a sweep puts it); source addresses are kept in the moving windows only.
 */
async function checkRecount(t: Test, storage: Storage, now: number, label: string) {
  const windows: Array<[string, number | null]> = [['all', null], ...Object.entries(PERIODS).map(([name, span]): [string, number] => [name, now - span])];
  const parts: string[] = [];
  const params: Record<string, number> = {};
  for (const [i, [win, since]] of windows.entries()) {
    if (since !== null) params[`since${i}`] = since;
    for (const [kind, column] of Object.entries(COUNTED_COLUMNS)) {
      if (kind === 'ip' && since === null) continue;
      const conditions = [...(since === null ? [] : [`timestamp_ms >= @since${i}`]), ...(kind === 'ip' ? ['source_ip IS NOT NULL'] : [])];
      const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
      const labelOf = kind === 'agent' ? 'MAX(hostname)' : 'CAST(NULL AS TEXT)';
      for (const [scope, group] of [['org_id', `org_id, ${column}`], ["''", column]] as const) {
        parts.push(`SELECT '${win}' AS win, '${kind}' AS kind, ${scope} AS scope, ${column} AS key, COUNT(*) AS n, ${labelOf} AS label FROM threat_events ${where} GROUP BY ${group}`);
      }
    }
  }
  const kept = await selectRows(storage, 'SELECT win, kind, scope, key, n, label FROM threat_counts ORDER BY win, kind, scope, key');
  const recount = await selectRows(storage, `SELECT win, kind, scope, key, n, label FROM (${parts.join(' UNION ALL ')}) AS r ORDER BY win, kind, scope, key`, params);
  t.same(kept, recount, `${label}: the kept counts equal a recount`);
}

onBothEngines('summaries, the overview and recent threats stay exact while the windows move, lag behind or run ahead', async (t, engine) => {
  const { app, storage, clock, jobs } = await buildManagerOn(t, engine);
  const next = random(19);
  const agents = [
    await register(app, { hostname: 'web-01' }),
    await register(app, { hostname: 'web-02' }),
    await register(app, { hostname: 'db-01', org_id: 'acme' }),
    await register(app, { hostname: 'db-02', org_id: 'acme' }),
    await register(app, { hostname: 'edge-01', org_id: 'globex' }),
  ];
  for (const [i, agent] of agents.entries()) await ingest(app, agent, clock.now(), 150 + 60 * i, 35 * DAY, next);
  // The windows still start where the migration put them (by the real clock): every read corrects.
  await checkCounts(t, app, storage, clock.now(), agents, 'before any sweep');
  await jobs.sweeper.sweep();
  await checkCounts(t, app, storage, clock.now(), agents, 'swept');
  await checkRecount(t, storage, clock.now(), 'swept');

  // Hours pass without a sweep: events have left the windows since their stored start.
  clock.advance(7 * HOUR + 1234);
  await ingest(app, agents[0]!, clock.now(), 120, 2 * HOUR, next);
  await checkCounts(t, app, storage, clock.now(), agents, 'seven hours unswept');
  await jobs.sweeper.sweep();
  await checkCounts(t, app, storage, clock.now(), agents, 'seven hours swept');
  await checkRecount(t, storage, clock.now(), 'seven hours swept');

  // Days pass, more events, then the clock goes back: the windows start ahead of the reads.
  clock.advance(8 * DAY);
  await ingest(app, agents[2]!, clock.now(), 200, 10 * DAY, next);
  await jobs.sweeper.sweep();
  clock.set(clock.now() - 3 * DAY - 5 * HOUR);
  await checkCounts(t, app, storage, clock.now(), agents, 'clock moved back');
  await jobs.sweeper.sweep();
  await checkCounts(t, app, storage, clock.now(), agents, 'clock moved back, swept');
  await checkRecount(t, storage, clock.now(), 'clock moved back, swept');

  // Deleting an organisation's data (account deletion) takes its events out of every count.
  const orgData = createOrgData(storage);
  await storage.transaction({ durable: false, locks: orgData.deleteLocks }, (tx) => orgData.deleteOf(tx, 'acme'));
  await checkCounts(t, app, storage, clock.now(), agents.filter((_, i) => i !== 2 && i !== 3), 'org deleted');
  await checkRecount(t, storage, clock.now(), 'org deleted');
});

/** Named parameters, or none: the port takes no object for a statement without parameters. */
const paramsOf = (params: Record<string, unknown>) => (Object.keys(params).length > 0 ? params : []);

/** The ids of a page of threats as a plain ORDER BY over the events returns them, and the true count. */
async function referencePage(storage: Storage, where: string, params: Record<string, unknown>, limit: number, offset: number) {
  const rows = await selectRows<{ id: string }>(storage, `SELECT id FROM threat_events ${where} ORDER BY timestamp_ms DESC, seq DESC LIMIT @limit OFFSET @offset`, { ...params, limit, offset });
  const [counted] = await selectRows<{ n: number }>(storage, `SELECT COUNT(*) AS n FROM threat_events ${where}`, paramsOf(params));
  return { ids: rows.map((r) => r.id), total: counted!.n };
}

onBothEngines('threat list: pages as before on every filter combination; totals exact from the counts, else counted up to 10,000', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine);
  const next = random(7);
  const busy = await register(app, { hostname: 'busy', org_id: 'acme' });
  const quiet = await register(app, { hostname: 'quiet' });
  await storeEvents(storage, { id: busy.id, orgId: 'acme', hostname: 'busy' }, clock.now(), 10_600, 20 * DAY, next);
  await storeEvents(storage, { id: quiet.id, orgId: 'default', hostname: 'quiet' }, clock.now(), 400, 20 * DAY, next);

  const values = { since: clock.now() - 15 * DAY, until: clock.now() - DAY, org_id: 'acme', agent_id: busy.id, severity: 'high', type: 'port_scan' } as const;
  const sql: Record<keyof typeof values, string> = {
    since: 'timestamp_ms >= @since',
    until: 'timestamp_ms <= @until',
    org_id: 'org_id = @org_id',
    agent_id: 'agent_id = @agent_id',
    severity: 'severity = @severity',
    type: 'type = @type',
  };
  let capped = 0;
  for (const { present, params, where } of filterCombinations(values, sql)) {
    const query = present.map((key) => `${key}=${encodeURIComponent(key === 'since' || key === 'until' ? new Date(values[key]).toISOString() : values[key])}`).join('&');
    const exact = !present.includes('since') && !present.includes('until') && present.filter((key) => key === 'agent_id' || key === 'severity' || key === 'type').length <= 1;
    for (const [page, limit] of [[1, 200], [3, 50], [40, 250 / 10]] as const) {
      const res = await app.inject({ url: `/api/threats?${query}&page=${page}&limit=${limit}`, headers: OPERATOR });
      const body = res.json();
      const expected = await referencePage(storage, where, params, limit, (page - 1) * limit);
      t.same(body.data.map((threat: { id: string }) => threat.id), expected.ids, `${query || 'no filter'} page ${page}×${limit}: rows`);
      const total = exact ? expected.total : Math.min(expected.total, COUNT_CAP);
      t.equal(body.pagination.total, total, `${query || 'no filter'} ×${limit}: total ${exact ? 'exact' : 'capped'}`);
      t.equal(body.pagination.pages, Math.ceil(total / limit));
      if (total < expected.total) capped++;
    }
  }
  t.ok(capped > 0, `${capped} totals were capped`);
});

onBothEngines('agent list: pages and exact totals on every filter combination; fleet counts follow registrations and removals', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine);
  const orgs = ['default', 'acme', 'globex'];
  const tagSets = [['prod'], ['prod', 'web'], ['web'], [], ['prod', 'db']];
  const agents: RegisteredAgent[] = [];
  for (let i = 0; i < 40; i++) {
    agents.push(await register(app, { hostname: `host-${i}`, org_id: orgs[i % 3], os: i % 4 === 0 ? 'win32' : 'linux', tags: tagSets[i % tagSets.length] }));
    clock.advance(9_000);
  }
  // Heartbeats leave a mix of online, stale and offline agents.
  for (const agent of agents.slice(25)) {
    await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: {} });
    clock.advance(3_000);
  }
  await app.inject({ method: 'DELETE', url: `/api/agents/${agents[3]!.id}`, headers: OPERATOR });
  await register(app, { hostname: 'host-5', org_id: orgs[5 % 3], os: 'freebsd', tags: ['db'] });

  const now = clock.now();
  const ranges = { online: [now - 120_000 + 1, null], stale: [now - 300_000 + 1, now - 120_000 + 1], offline: [null, now - 300_000 + 1] } as const;
  for (const status of [undefined, 'online', 'stale', 'offline'] as const) {
    for (const orgId of [undefined, 'acme', 'nobody']) {
      for (const tags of [[], ['prod'], ['prod', 'web'], ['missing']]) {
        const [from, to] = status ? ranges[status] : [null, null];
        // Each filter present with its own parameters (a tag list as one parameter per tag: no JSON in SQL).
        const filters: Array<[sql: string, params: Record<string, unknown>]> = [];
        if (orgId !== undefined) filters.push(['a.org_id = @orgId', { orgId }]);
        if (from !== null) filters.push(['a.last_heartbeat_ms >= @from', { from }]);
        if (to !== null) filters.push(['a.last_heartbeat_ms < @to', { to }]);
        if (tags.length > 0) {
          const names = tags.map((_, i) => `@tag${i}`).join(', ');
          filters.push([
            `(SELECT COUNT(*) FROM agent_tags t WHERE t.agent_id = a.id AND t.tag IN (${names})) = @tagCount`,
            { tagCount: tags.length, ...Object.fromEntries(tags.map((tag, i) => [`tag${i}`, tag])) },
          ]);
        }
        const conditions = filters.map(([condition]) => condition);
        const params = Object.assign({}, ...filters.map(([, values]) => values)) as Record<string, unknown>;
        const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
        const [counted] = await selectRows<{ n: number }>(storage, `SELECT COUNT(*) AS n FROM agents a ${where}`, paramsOf(params));
        const total = counted!.n;
        const query = [status ? `status=${status}` : '', orgId ? `org_id=${orgId}` : '', ...tags.map((tag) => `tag=${tag}`)].filter(Boolean).join('&');
        for (const page of [1, 2, 3]) {
          const body = (await app.inject({ url: `/api/agents?${query}&page=${page}&limit=7`, headers: OPERATOR })).json();
          const rows = await selectRows<{ id: string }>(storage, `SELECT a.id FROM agents a ${where} ORDER BY a.registered_at DESC, a.id DESC LIMIT 7 OFFSET @offset`, { ...params, offset: (page - 1) * 7 });
          const ids = rows.map((r) => r.id);
          t.same(body.data.map((agent: { id: string }) => agent.id), ids, `${query || 'no filter'} page ${page}`);
          t.equal(body.pagination.total, total, `${query || 'no filter'}: total`);
        }
      }
    }
  }
  const overview = (await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data;
  const byOs = Object.fromEntries((await selectRows<{ os: string; n: number }>(storage, 'SELECT os, COUNT(*) AS n FROM agents GROUP BY os')).map((r) => [r.os, r.n]));
  t.same(overview.agentsByOs, byOs, 'agents by OS after a removal and a new OS');
  t.same(Object.keys(overview.agentsByOs), ['linux', 'win32', 'freebsd'], 'most common first');
  t.equal(overview.totalAgents, 39);
  t.equal(overview.onlineAgents + overview.staleAgents + overview.offlineAgents, 39);
});

onBothEngines('the sweep walks the fleet in steps: hundreds of transitions at once, each stored and announced once', async (t, engine) => {
  const { app, storage, clock, jobs } = await buildManagerOn(t, engine);
  // One statement per batch of agents, in the dialect both engines share.
  const insert = (params: { count: number; prefix: string; beat: number; iso: string }) =>
    execute(
      storage,
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @count)
       INSERT INTO agents (id, org_id, hostname, os, version, ip, token_hash, status, status_changed_at, last_heartbeat_ms, registered_at)
       SELECT CAST(@prefix AS TEXT) || CAST(i AS TEXT), 'default', CAST(@prefix AS TEXT) || CAST(i AS TEXT), 'linux', '1.0', '10.0.0.1',
         'token-of-' || CAST(@prefix AS TEXT) || CAST(i AS TEXT), 'online', CAST(@iso AS TEXT), CAST(@beat AS BIGINT), CAST(@iso AS TEXT) FROM n`,
      params,
    );
  const iso = new Date(clock.now()).toISOString();
  await insert({ count: 450, prefix: 'agent-bulk-', beat: clock.now(), iso });
  await insert({ count: 230, prefix: 'agent-later-', beat: clock.now() + 200_000, iso });
  clock.advance(400_000);
  const swept = await jobs.sweeper.sweep();
  t.equal(swept.offline.length, 450, 'every agent past the offline timeout, over several steps');
  t.equal(swept.stale.length, 230, 'every agent past the heartbeat timeout');
  const announced = async () => (await selectRows<{ n: number }>(storage, `SELECT COUNT(*) AS n FROM stream_events WHERE event = 'agent_offline'`))[0]!.n;
  t.equal(await announced(), 450);
  t.same(await jobs.sweeper.sweep(), { offline: [], stale: [] }, 'nothing twice');
  t.equal((await selectRows<{ n: number }>(storage, `SELECT COUNT(*) AS n FROM agents WHERE status = 'offline'`))[0]!.n, 450);

  clock.advance(200_000);
  t.equal((await jobs.sweeper.sweep()).offline.length, 230, 'the stale ones go offline in turn');
  // An agent back online and silent again is announced again; one beating at an earlier clock is still found.
  const back = await register(app, { hostname: 'agent-bulk-7' });
  clock.advance(400_000);
  t.same((await jobs.sweeper.sweep()).offline, [back.id]);
  clock.set(clock.now() - 3_600_000);
  const early = await register(app, { hostname: 'early' });
  clock.advance(400_000);
  t.same((await jobs.sweeper.sweep()).offline, [early.id], 'found after the clock went back');
  t.equal(await announced(), 682);
});

// SQLite only: it migrates a SQLite file written before migration 11 (PostgreSQL starts from its baseline).
t.test('migration 11 counts the events, agents and policies already stored', async (t) => {
  const config = testConfig(t);
  const db = openDatabase(config.databasePath);
  t.teardown(() => closeDatabase(db));
  migrate(db, MIGRATIONS.filter((migration) => migration.version < 11));
  const now = Date.parse('2026-03-07T12:00:00.000Z');
  db.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 30)
    INSERT INTO agents (id, org_id, hostname, os, version, ip, token_hash, status, status_changed_at, last_heartbeat_ms, registered_at)
    SELECT 'agent-old-' || i, CASE i % 3 WHEN 0 THEN 'default' WHEN 1 THEN 'acme' ELSE 'globex' END, 'host-' || i,
      CASE WHEN i % 4 = 0 THEN 'win32' ELSE 'linux' END, '1.0', '10.0.0.1', lower(hex(randomblob(32))), 'online', '', ? - i * 20000, '2026-01-01T00:00:00.000Z'
    FROM n`).run(now);
  db.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 3000),
    -- Spread over agents, 40 days, severities and types by fixed strides, so a failure can be replayed.
    e AS MATERIALIZED (SELECT i, (i * 7) % 30 AS agent, (i * 1234567) % (40 * 86400000) AS age, (i / 3) % 4 AS sev, (i / 5) % 5 AS kind FROM n)
    INSERT INTO threat_events (id, agent_id, org_id, hostname, type, severity, details, source_ip, timestamp, timestamp_ms, received_at)
    SELECT 'evt_old_' || e.i, a.id, a.org_id, a.hostname, 'type-' || e.kind, CASE e.sev WHEN 0 THEN 'low' WHEN 1 THEN 'medium' WHEN 2 THEN 'high' ELSE 'critical' END,
      '{}', CASE WHEN e.i % 3 = 0 THEN NULL ELSE '10.0.1.' || (e.i % 25) END, '', @now - e.age, ''
    FROM e JOIN agents a ON a.id = 'agent-old-' || e.agent ORDER BY @now - e.age`).run({ now });
  db.prepare(`INSERT INTO policies (id, org_id, agent_id, version, name, rules, created_at) VALUES ('pol_a', NULL, NULL, 1, 'p', '[]', ''), ('pol_b', 'acme', NULL, 2, 'q', '[]', '')`).run();
  migrate(db, MIGRATIONS);

  const clock = new ManualClock(now);
  const { app, storage } = await buildManager(t, { db, config, clock });
  const agents = (await selectRows<{ id: string }>(storage, 'SELECT id FROM agents')).map(({ id }) => ({ id }) as RegisteredAgent);
  await checkCounts(t, app, storage, now, agents, 'migrated');
  const list = (await app.inject({ url: '/api/threats?limit=10', headers: OPERATOR })).json();
  t.equal(list.pagination.total, 3000, 'the exact total of the list');
  const overview = (await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data;
  t.same(overview.agentsByOs, { linux: 22, win32: 8 });
  t.equal((await app.inject({ url: '/api/policy/history', headers: OPERATOR })).json().pagination.total, 2);
});
