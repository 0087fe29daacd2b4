import t from 'tap';
import { createAgentStore } from '../../src/manager/stores/agents.js';
import { AGENT_SORTS, SORT_ORDERS } from '../../src/manager/schemas.js';
import { createThreatBucketStore } from '../../src/manager/stores/threat-buckets.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { seedFleetAndAccounts } from '../bench/seed-fleet.js';
import { testConfig, testDb } from '../helper.js';
import { planOf, planRules, recordSql, subsets } from '../query-plans.js';

/**
 * The query plans of the fleet search and sort and of the threat time series (no
 * request may stall the process): each reaches agents, events and buckets only through an
 * index search or an ordered index walk that a LIMIT stops; a full scan or a sort of agents
 * fails. (Same rules as test/shared/list-query-plans.test.ts, on the statements added here.)
 */
const LARGE = ['threat_events', 'threat_buckets', 'agents', 'agent_tags'];
const { violations } = planRules(LARGE);

t.test('fleet search, sort and order and the threat time series search or walk an index; none scans or sorts agents or events', async (t) => {
  const db = testDb(t, testConfig(t));
  const now = Date.parse('2026-03-07T12:00:00.000Z');
  seedFleetAndAccounts(db, { events: 4000, agents: 400, users: 10, audit: 10, now, log: () => {} });
  db.exec('ANALYZE');
  const { db: recorder, prepared: sources } = recordSql(db);
  const agents = createAgentStore(sqliteStorageOf(recorder));
  const buckets = createThreatBucketStore(sqliteStorageOf(recorder));

  for (const keys of subsets(['orgId', 'from', 'to', 'tags', 'q'] as const)) {
    for (const sort of AGENT_SORTS) {
      for (const order of SORT_ORDERS) {
        await agents.list(
          {
            orgId: keys.includes('orgId') ? 'acme' : null,
            heartbeatFrom: keys.includes('from') ? now - 300_000 : null,
            heartbeatTo: keys.includes('to') ? now - 120_000 : null,
            tags: keys.includes('tags') ? ['prod'] : [],
            q: keys.includes('q') ? 'Host' : null,
          },
          50,
          0,
          { sort, order },
        );
      }
    }
  }
  for (const period of ['1h', '6h', '24h', '7d', '30d'] as const) {
    for (const orgId of [undefined, 'acme']) await buckets.series(period, now + 123_456, orgId);
  }
  await buckets.prune(now + 40 * 86_400_000, 100);
  await sqliteStorageOf(recorder).transaction({ durable: false }, async (tx) => {
    await buckets.add(tx, [{ org_id: 'acme', severity: 'high', timestamp_ms: now }]);
    await buckets.forgetOrg(tx, 'globex');
  });

  t.ok(sources.size >= 5 * 2 * 3 * 2, `${sources.size} statements prepared`);
  for (const source of sources) {
    const plan = planOf(db, source);
    t.same(violations(source, plan), [], `${source.replace(/\s+/g, ' ').trim().slice(0, 200)}\n  plan: ${plan.map((node) => node.detail).join(' | ')}`);
  }
  // A search is a range of the hostname index, not a walk that checks every hostname.
  const searchCount = [...sources].find((source) => source.startsWith('SELECT COUNT(*) AS n FROM agents a INDEXED BY agents_hostname'))!;
  t.match(planOf(db, searchCount).map((node) => node.detail).join(' | '), /SEARCH a USING (COVERING )?INDEX agents_hostname \(hostname>\? AND hostname<\?\)/);
});

t.test('the rules catch a full scan and a sort of agents', async (t) => {
  const db = testDb(t, testConfig(t));
  // A substring search's total, a page in an order no index holds.
  for (const source of ["SELECT COUNT(*) AS n FROM agents a WHERE a.hostname LIKE '%' || @q || '%'", 'SELECT a.* FROM agents a ORDER BY a.version LIMIT 5']) {
    t.not(violations(source, planOf(db, source)).length, 0, source);
  }
});
