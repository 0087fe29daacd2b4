import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import t, { type Test } from 'tap';
import { createOrgData } from '../../src/bridges/auth-to-manager-org-data.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { rebuildThreatCounts } from '../../src/manager/stores/threat-counts.js';
import type { App } from '../../src/shared/base-app.js';
import { COUNT_CAP } from '../../src/shared/capped-total.js';
import { ManualClock } from '../../src/shared/clock.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { filterCombinations, testConfig } from '../helper.js';
import { buildManager, OPERATOR, register, type RegisteredAgent } from './fixtures.js';

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

/** `count` events of the agent at random times within `spanMs` before now, posted in batches of 500. */
async function ingest(app: App, agent: RegisteredAgent, now: number, count: number, spanMs: number, next: () => number): Promise<void> {
  for (let done = 0; done < count; done += 500) {
    const events = Array.from({ length: Math.min(500, count - done) }, () => {
      const roll = next();
      return {
        type: roll < 0.02 ? `rare_${Math.floor(next() * 1000)}` : TYPES[Math.floor(next() * TYPES.length)]!,
        severity: SEVERITIES[Math.floor(next() * 4)]!,
        // Private addresses: stored as the event's source IP, never reported to the Threat Cloud.
        details: roll < 0.7 ? { sourceIp: `10.0.0.${Math.floor(next() * 40)}` } : { note: 'no address' },
        timestamp: new Date(now - Math.floor(next() * spanMs)).toISOString(),
      };
    });
    const res = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events } });
    if (res.statusCode !== 201) throw new Error(`ingest: ${res.statusCode} ${res.body}`);
  }
}

/** The summary as the Manager computed it before the kept counts: aggregates over the events. */
function referenceSummary(db: Db, period: keyof typeof PERIODS, sinceMs: number, orgId?: string) {
  const where = `WHERE timestamp_ms >= @sinceMs ${orgId === undefined ? '' : 'AND org_id = @orgId'}`;
  const params = { sinceMs, ...(orgId === undefined ? {} : { orgId }) };
  const all = <T>(sql: string) => db.prepare(sql).all(params) as T[];
  const bySeverity = { low: 0, medium: 0, high: 0, critical: 0 } as Record<string, number>;
  let total = 0;
  for (const row of all<{ key: string; n: number }>(`SELECT severity AS key, COUNT(*) AS n FROM threat_events ${where} GROUP BY severity`)) {
    bySeverity[row.key] = row.n;
    total += row.n;
  }
  return {
    period,
    total,
    bySeverity,
    byType: Object.fromEntries(all<{ key: string; n: number }>(`SELECT type AS key, COUNT(*) AS n FROM threat_events ${where} GROUP BY type ORDER BY n DESC, type LIMIT 100`).map((r) => [r.key, r.n])),
    topAgents: all<{ key: string; hostname: string; n: number }>(
      `SELECT agent_id AS key, MAX(hostname) AS hostname, COUNT(*) AS n FROM threat_events ${where} GROUP BY agent_id ORDER BY n DESC, agent_id LIMIT 10`,
    ).map((r) => ({ agentId: r.key, hostname: r.hostname, count: r.n })),
    topSourceIps: all<{ key: string; n: number }>(
      `SELECT source_ip AS key, COUNT(*) AS n FROM threat_events ${where} AND source_ip IS NOT NULL GROUP BY source_ip ORDER BY n DESC, source_ip LIMIT 10`,
    ).map((r) => ({ ip: r.key, count: r.n })),
  };
}

/** Every summary, the overview's threat figures and each agent's recent threats against the events themselves. */
async function checkCounts(t: Test, app: App, db: Db, now: number, agents: RegisteredAgent[], label: string) {
  for (const period of Object.keys(PERIODS) as (keyof typeof PERIODS)[]) {
    for (const orgId of [undefined, 'default', 'acme', 'nobody']) {
      const res = await app.inject({ url: `/api/threats/summary?period=${period}${orgId ? `&org_id=${orgId}` : ''}`, headers: OPERATOR });
      t.same(res.json().data, referenceSummary(db, period, now - PERIODS[period], orgId), `${label}: summary ${period} ${orgId ?? 'all orgs'}`);
    }
  }
  const overview = (await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data;
  const day = referenceSummary(db, '24h', now - DAY);
  const week = referenceSummary(db, '7d', now - 7 * DAY);
  t.same(overview.threatSummary, { last24h: { total: day.total, ...day.bySeverity }, last7d: { total: week.total, ...week.bySeverity } }, `${label}: overview summaries`);
  t.same(overview.topThreats, Object.entries(week.byType).slice(0, 5).map(([type, count]) => ({ type, count })), `${label}: overview top threats`);
  for (const agent of agents) {
    const detail = (await app.inject({ url: `/api/agents/${agent.id}`, headers: OPERATOR })).json().data;
    const expected = (db.prepare('SELECT COUNT(*) AS n FROM threat_events WHERE agent_id = ? AND timestamp_ms >= ?').get(agent.id, now - DAY) as { n: number }).n;
    t.equal(detail.recentThreats, expected, `${label}: recent threats of ${agent.id}`);
  }
}

/** The kept rows equal a recount from the events (after a sweep the windows start where a recount puts them). */
function checkRecount(t: Test, db: Db, now: number, label: string) {
  const rows = () => db.prepare('SELECT win, kind, scope, key, n, label FROM threat_counts ORDER BY win, kind, scope, key').all();
  const kept = rows();
  db.transaction(() => rebuildThreatCounts(db, now))();
  t.same(kept, rows(), `${label}: the kept counts equal a recount`);
}

t.test('summaries, the overview and recent threats stay exact while the windows move, lag behind or run ahead', async (t) => {
  const { app, db, clock, jobs } = await buildManager(t);
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
  await checkCounts(t, app, db, clock.now(), agents, 'before any sweep');
  await jobs.sweeper.sweep();
  await checkCounts(t, app, db, clock.now(), agents, 'swept');
  checkRecount(t, db, clock.now(), 'swept');

  // Hours pass without a sweep: events have left the windows since their stored start.
  clock.advance(7 * HOUR + 1234);
  await ingest(app, agents[0]!, clock.now(), 120, 2 * HOUR, next);
  await checkCounts(t, app, db, clock.now(), agents, 'seven hours unswept');
  await jobs.sweeper.sweep();
  await checkCounts(t, app, db, clock.now(), agents, 'seven hours swept');
  checkRecount(t, db, clock.now(), 'seven hours swept');

  // Days pass, more events, then the clock goes back: the windows start ahead of the reads.
  clock.advance(8 * DAY);
  await ingest(app, agents[2]!, clock.now(), 200, 10 * DAY, next);
  await jobs.sweeper.sweep();
  clock.set(clock.now() - 3 * DAY - 5 * HOUR);
  await checkCounts(t, app, db, clock.now(), agents, 'clock moved back');
  await jobs.sweeper.sweep();
  await checkCounts(t, app, db, clock.now(), agents, 'clock moved back, swept');
  checkRecount(t, db, clock.now(), 'clock moved back, swept');

  // Deleting an organisation's data (account deletion) takes its events out of every count.
  await sqliteStorageOf(db).transaction({ durable: false }, (tx) => createOrgData(sqliteStorageOf(db)).deleteOf(tx, 'acme'));
  await checkCounts(t, app, db, clock.now(), agents.filter((_, i) => i !== 2 && i !== 3), 'org deleted');
  checkRecount(t, db, clock.now(), 'org deleted');
});

/** The ids of a page of threats as a plain ORDER BY over the events returns them, and the true count. */
function referencePage(db: Db, where: string, params: Record<string, unknown>, limit: number, offset: number) {
  const ids = (db.prepare(`SELECT id FROM threat_events ${where} ORDER BY timestamp_ms DESC, seq DESC LIMIT @limit OFFSET @offset`).all({ ...params, limit, offset }) as { id: string }[]).map((r) => r.id);
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM threat_events ${where}`).get(params) as { n: number }).n;
  return { ids, total };
}

t.test('threat list: pages as before on every filter combination; totals exact from the counts, else counted up to 10,000', async (t) => {
  const { app, db, clock } = await buildManager(t);
  const next = random(7);
  const busy = await register(app, { hostname: 'busy', org_id: 'acme' });
  const quiet = await register(app, { hostname: 'quiet' });
  await ingest(app, busy, clock.now(), 10_600, 20 * DAY, next);
  await ingest(app, quiet, clock.now(), 400, 20 * DAY, next);

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
      const expected = referencePage(db, where, params, limit, (page - 1) * limit);
      t.same(body.data.map((threat: { id: string }) => threat.id), expected.ids, `${query || 'no filter'} page ${page}×${limit}: rows`);
      const total = exact ? expected.total : Math.min(expected.total, COUNT_CAP);
      t.equal(body.pagination.total, total, `${query || 'no filter'} ×${limit}: total ${exact ? 'exact' : 'capped'}`);
      t.equal(body.pagination.pages, Math.ceil(total / limit));
      if (total < expected.total) capped++;
    }
  }
  t.ok(capped > 0, `${capped} totals were capped`);
});

t.test('agent list: pages and exact totals on every filter combination; fleet counts follow registrations and removals', async (t) => {
  const { app, db, clock } = await buildManager(t);
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
        const where = `WHERE (@orgId IS NULL OR a.org_id = @orgId) AND (@from IS NULL OR a.last_heartbeat_ms >= @from) AND (@to IS NULL OR a.last_heartbeat_ms < @to)
          AND (@tagCount = 0 OR (SELECT COUNT(*) FROM agent_tags t WHERE t.agent_id = a.id AND t.tag IN (SELECT value FROM json_each(@tags))) = @tagCount)`;
        const params = { orgId: orgId ?? null, from, to, tags: JSON.stringify(tags), tagCount: tags.length };
        const total = (db.prepare(`SELECT COUNT(*) AS n FROM agents a ${where}`).get(params) as { n: number }).n;
        const query = [status ? `status=${status}` : '', orgId ? `org_id=${orgId}` : '', ...tags.map((tag) => `tag=${tag}`)].filter(Boolean).join('&');
        for (const page of [1, 2, 3]) {
          const body = (await app.inject({ url: `/api/agents?${query}&page=${page}&limit=7`, headers: OPERATOR })).json();
          const ids = (db.prepare(`SELECT a.id FROM agents a ${where} ORDER BY a.registered_at DESC, a.id DESC LIMIT 7 OFFSET ?`).all(params, (page - 1) * 7) as { id: string }[]).map((r) => r.id);
          t.same(body.data.map((agent: { id: string }) => agent.id), ids, `${query || 'no filter'} page ${page}`);
          t.equal(body.pagination.total, total, `${query || 'no filter'}: total`);
        }
      }
    }
  }
  const overview = (await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data;
  const byOs = Object.fromEntries((db.prepare('SELECT os, COUNT(*) AS n FROM agents GROUP BY os').all() as { os: string; n: number }[]).map((r) => [r.os, r.n]));
  t.same(overview.agentsByOs, byOs, 'agents by OS after a removal and a new OS');
  t.same(Object.keys(overview.agentsByOs), ['linux', 'win32', 'freebsd'], 'most common first');
  t.equal(overview.totalAgents, 39);
  t.equal(overview.onlineAgents + overview.staleAgents + overview.offlineAgents, 39);
});

t.test('the sweep walks the fleet in steps: hundreds of transitions at once, each stored and announced once', async (t) => {
  const { app, db, clock, jobs } = await buildManager(t);
  const insert = db.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @count)
    INSERT INTO agents (id, org_id, hostname, os, version, ip, token_hash, status, status_changed_at, last_heartbeat_ms, registered_at)
    SELECT @prefix || i, 'default', @prefix || i, 'linux', '1.0', '10.0.0.1', lower(hex(randomblob(32))), 'online', @iso, @beat, @iso FROM n`);
  const iso = new Date(clock.now()).toISOString();
  insert.run({ count: 450, prefix: 'agent-bulk-', beat: clock.now(), iso });
  insert.run({ count: 230, prefix: 'agent-later-', beat: clock.now() + 200_000, iso });
  clock.advance(400_000);
  const swept = await jobs.sweeper.sweep();
  t.equal(swept.offline.length, 450, 'every agent past the offline timeout, over several steps');
  t.equal(swept.stale.length, 230, 'every agent past the heartbeat timeout');
  const announced = () => (db.prepare(`SELECT COUNT(*) AS n FROM stream_events WHERE event = 'agent_offline'`).get() as { n: number }).n;
  t.equal(announced(), 450);
  t.same(await jobs.sweeper.sweep(), { offline: [], stale: [] }, 'nothing twice');
  t.equal(db.prepare(`SELECT COUNT(*) AS n FROM agents WHERE status = 'offline'`).pluck().get(), 450);

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
  t.equal(announced(), 682);
});

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
  const { app } = await buildManager(t, { db, config, clock });
  const agents = (db.prepare('SELECT id FROM agents').all() as { id: string }[]).map(({ id }) => ({ id }) as RegisteredAgent);
  await checkCounts(t, app, db, now, agents, 'migrated');
  const list = (await app.inject({ url: '/api/threats?limit=10', headers: OPERATOR })).json();
  t.equal(list.pagination.total, 3000, 'the exact total of the list');
  const overview = (await app.inject({ url: '/api/overview', headers: OPERATOR })).json().data;
  t.same(overview.agentsByOs, { linux: 22, win32: 8 });
  t.equal((await app.inject({ url: '/api/policy/history', headers: OPERATOR })).json().pagination.total, 2);
});
