import t from 'tap';
import { createAgentStore } from '../../src/manager/stores/agents.js';
import { AGENT_SORTS, SORT_ORDERS } from '../../src/manager/schemas.js';
import { createThreatBucketStore } from '../../src/manager/stores/threat-buckets.js';
import type { Db } from '../../src/shared/db/open.js';
import { seedFleetAndAccounts } from '../bench/seed-fleet.js';
import { testConfig, testDb } from '../helper.js';

/**
 * The query plans of the fleet search and sort and of the threat time series (issue 19: no
 * request may stall the process): each reaches agents, events and buckets only through an
 * index search or an ordered index walk that a LIMIT stops; a full scan or a sort of agents
 * fails. (Same rules as test/shared/list-query-plans.test.ts, on the statements added here.)
 */
const LARGE = ['threat_events', 'threat_buckets', 'agents', 'agent_tags'];

function recordPrepared(db: Db): { db: Db; sources: Set<string> } {
  const sources = new Set<string>();
  const recording = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'prepare') {
        return (source: string) => {
          sources.add(source);
          return target.prepare(source);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: recording, sources };
}

const subsets = <T>(items: readonly T[]): T[][] => items.reduce<T[][]>((all, item) => [...all, ...all.map((subset) => [...subset, item])], [[]]);

interface PlanNode {
  id: number;
  parent: number;
  detail: string;
}

function planOf(db: Db, source: string): PlanNode[] {
  const named = Object.fromEntries([...source.matchAll(/[@:$](\w+)/g)].map((m) => [m[1], null]));
  const positional = (source.match(/\?/g) ?? []).map(() => null);
  const explain = db.prepare(`EXPLAIN QUERY PLAN ${source}`);
  return (Object.keys(named).length > 0 ? explain.all(named) : explain.all(...positional)) as PlanNode[];
}

function tableOf(source: string, detail: string): string {
  const name = detail.split(' ')[1] ?? '';
  if (LARGE.includes(name)) return name;
  return new RegExp(`\\b(\\w+)\\s+(?:AS\\s+)?${name}\\b(?!\\s*\\.)`, 'i').exec(source)?.[1] ?? name;
}

/** A scan without an index, a whole index walked with no LIMIT, a skip-scan, or a sort of a large table's rows. */
export function violations(source: string, plan: PlanNode[]): string[] {
  const readsLarge = (node: PlanNode) => /^(SCAN|SEARCH) /.test(node.detail) && LARGE.includes(tableOf(source, node.detail));
  const reads = (node: PlanNode): boolean =>
    readsLarge(node) || (!/SUBQUERY|CO-ROUTINE|MATERIALIZE/.test(node.detail) && plan.some((child) => child.parent === node.id && reads(child)));
  const found: string[] = [];
  for (const node of plan) {
    if (readsLarge(node) && /\(ANY\(/.test(node.detail)) found.push(`skip-scan: ${node.detail}`);
    if (readsLarge(node) && node.detail.startsWith('SCAN ')) {
      if (!/ USING (COVERING )?INDEX /.test(node.detail)) found.push(`full scan: ${node.detail}`);
      else if (!/\bLIMIT\b/i.test(source)) found.push(`index walk without LIMIT: ${node.detail}`);
    }
    if (/TEMP B-TREE/.test(node.detail) && plan.some((other) => other.parent === node.parent && other !== node && reads(other))) {
      found.push(`sort of a large table's rows: ${node.detail}`);
    }
  }
  return found;
}

t.test('fleet search, sort and order and the threat time series search or walk an index; none scans or sorts agents or events', async (t) => {
  const db = testDb(t, testConfig(t));
  const now = Date.parse('2026-03-07T12:00:00.000Z');
  seedFleetAndAccounts(db, { events: 4000, agents: 400, users: 10, audit: 10, now, log: () => {} });
  db.exec('ANALYZE');
  const { db: recorder, sources } = recordPrepared(db);
  const agents = createAgentStore(recorder);
  const buckets = createThreatBucketStore(recorder);

  for (const keys of subsets(['orgId', 'from', 'to', 'tags', 'q'] as const)) {
    for (const sort of AGENT_SORTS) {
      for (const order of SORT_ORDERS) {
        agents.list(
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
    for (const orgId of [undefined, 'acme']) buckets.series(period, now + 123_456, orgId);
  }
  buckets.prune(now + 40 * 86_400_000, 100);
  db.transaction(() => {
    buckets.add([{ org_id: 'acme', severity: 'high', timestamp_ms: now }]);
    buckets.forgetOrg('globex');
  })();

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
