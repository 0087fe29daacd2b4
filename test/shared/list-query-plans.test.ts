import t from 'tap';
import { auditPageStatements, createAuditStore } from '../../src/auth/stores/audit.js';
import { createSessionStore, LIVE_SESSIONS } from '../../src/auth/stores/sessions.js';
import { createUserStore } from '../../src/auth/stores/users.js';
import { createAgentStore } from '../../src/manager/stores/agents.js';
import { createEventStore, type ThreatFilter } from '../../src/manager/stores/events.js';
import { createPolicyStore } from '../../src/manager/stores/policies.js';
import { createThreatCountStore } from '../../src/manager/stores/threat-counts.js';
import { WINDOW_NAMES } from '../../src/manager/stores/threat-windows.js';
import { ManualClock } from '../../src/shared/clock.js';
import type { Tier } from '../../src/shared/tiers.js';
import { seedFleetAndAccounts } from '../bench/seed-fleet.js';
import { testConfig, testDb } from '../helper.js';
import { planOf, planRules, recordSql, subsets } from '../query-plans.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';

/**
 * Tables that grow with use (events, accounts, audit entries, sessions, the fleet): a plan
 * may only reach their rows through an index search, or an ordered index walk that a LIMIT
 * stops: one full scan or sort of such a table holds all three services, which share one event loop.
 */
const LARGE = ['threat_events', 'threat_counts', 'agents', 'agent_tags', 'policies', 'users', 'sessions', 'audit_log', 'totp_secrets'];
const { violations } = planRules(LARGE);

/** Reads that sort rows of a large table by design, each bounded by one account. */
const BOUNDED_BY_DESIGN: ReadonlyArray<readonly [RegExp, string]> = [
  [/FROM sessions WHERE user_id = \?/, "one account's sessions (its own list, the admin detail, the GDPR export)"],
  [/FROM audit_log WHERE actor_id = \? OR target_id = \?/, 'every entry about one account: the GDPR export'],
  [/FROM users u WHERE u\.id IN \(SELECT id FROM \(SELECT id FROM users INDEXED BY users_email_prefix/, 'an account search with at most SORTED_MATCHES_MAX (1,000) matches, found on the prefix indexes, then sorted'],
];

t.test('every Manager and Auth list, filter, total and summary statement searches an index; none scans or sorts a large table', async (t) => {
  const db = testDb(t, testConfig(t));
  const now = Date.parse('2026-03-07T12:00:00.000Z');
  // Enough rows of each kind that the planner's choice is the one it makes on a large database.
  seedFleetAndAccounts(db, { events: 4000, agents: 400, users: 2000, audit: 4000, now, log: () => {} });
  db.exec('ANALYZE');
  const clock = new ManualClock(now);
  const { db: recorder, prepared: sources } = recordSql(db);

  const events = createEventStore(sqliteStorageOf(recorder));
  const agents = createAgentStore(sqliteStorageOf(recorder));
  const policies = createPolicyStore(sqliteStorageOf(recorder));
  const counts = createThreatCountStore(sqliteStorageOf(recorder));
  const users = createUserStore(sqliteStorageOf(recorder), clock);
  const sessions = createSessionStore(sqliteStorageOf(recorder), clock, 8 * 3_600_000);
  const audit = createAuditStore(sqliteStorageOf(recorder), clock);

  const someAgent = (db.prepare(`SELECT id, org_id FROM agents WHERE org_id = 'acme' LIMIT 1`).get() as { id: string; org_id: string });
  const someUser = (db.prepare(`SELECT id FROM users LIMIT 1`).get() as { id: string }).id;

  // Manager: every combination of the list filters (statements are prepared per combination).
  const threatValues: Required<ThreatFilter> = { sinceMs: now - 86_400_000, untilMs: now, orgId: 'acme', agentId: someAgent.id, severity: 'high', type: 'port_scan' };
  for (const keys of subsets(Object.keys(threatValues) as (keyof ThreatFilter)[])) {
    const filter = Object.fromEntries(keys.map((key) => [key, threatValues[key]])) as ThreatFilter;
    await events.page(filter, 50, 0);
    await events.page(filter, 200, 9800);
  }
  for (const keys of subsets(['orgId', 'from', 'to', 'tags'] as const)) {
    for (const tags of keys.includes('tags') ? [['prod'], ['prod', 'web']] : [[]]) {
      await agents.list({ orgId: keys.includes('orgId') ? 'acme' : null, heartbeatFrom: keys.includes('from') ? now - 300_000 : null, heartbeatTo: keys.includes('to') ? now - 120_000 : null, tags }, 50, 0);
    }
  }
  for (const period of ['1h', '6h', '24h', '7d', '30d'] as const) {
    for (const orgId of [undefined, 'acme']) {
      await events.periods(async (periodCounts) => {
        const view = await periodCounts(period, now - 3_600_000, orgId);
        await view.count('severity', 'high');
        await view.top('type', 100);
        await view.top('agent', 10);
        await view.top('ip', 10);
      });
    }
  }
  await events.recentCountForAgent(someAgent.id, now - 86_400_000);
  await agents.statusCounts(now - 120_000, now - 300_000);
  await agents.countByOs();
  await agents.notOnlineAfter(sqliteStorageOf(recorder), { hb: 0, rowid: 0 }, now, 200);
  await policies.history(50, 0);
  await counts.hasUncounted();
  await counts.countNew(1000);
  for (const win of WINDOW_NAMES) await counts.advance(win, now + 60_000, 1000);
  await sqliteStorageOf(recorder).transaction({ durable: false }, (tx) => counts.forgetOrg(tx, 'globex'));

  // Auth: the admin list with and without a search, role and tier; sessions; audit; stats.
  for (const keys of subsets(['q', 'role', 'tier'] as const)) {
    await users.search({
      ...(keys.includes('q') ? { q: 'alice' } : {}),
      ...(keys.includes('role') ? { role: 'user' as const } : {}),
      ...(keys.includes('tier') ? { tier: 'pro' as Tier } : {}),
      limit: 50,
      offset: 0,
    });
  }
  await users.stats('2026-02-06T00:00:00.000Z');
  await users.count();
  await users.countActiveAdmins();
  await users.withExpiredPlans('2026-03-07T12:00:00.000Z');
  await sessions.pageLive(50, 0);
  await sessions.countLive();
  for (const statement of Object.values(LIVE_SESSIONS)) sources.add(statement.sql);
  await sessions.purgeExpired(500);
  for (const keys of subsets(['action', 'actorId', 'since', 'until'] as const)) {
    await audit.page({
      ...(keys.includes('action') ? { action: 'logout' } : {}),
      ...(keys.includes('actorId') ? { actorId: someUser } : {}),
      ...(keys.includes('since') ? { since: '2026-03-01T00:00:00.000Z' } : {}),
      ...(keys.includes('until') ? { until: '2026-03-05T00:00:00.000Z' } : {}),
      limit: 50,
      offset: 0,
    });
    // Declared for the port, prepared when first run: planned as declared, whether or not this data ran them.
    const declared = auditPageStatements(keys);
    sources.add(declared.page.sql).add(declared.count.sql);
  }
  await audit.aboutUser(someUser, 10);

  t.ok(sources.size >= 60, `${sources.size} statements prepared by the stores`);
  for (const source of sources) {
    const plan = planOf(db, source);
    const label = `${source.replace(/\s+/g, ' ').trim().slice(0, 160)}\n  plan: ${plan.map((node) => node.detail).join(' | ')}`;
    const allowed = BOUNDED_BY_DESIGN.find(([pattern]) => pattern.test(source));
    if (allowed) t.pass(`${label}\n  allowed: ${allowed[1]}`);
    else t.same(violations(source, plan), [], label);
  }
});
