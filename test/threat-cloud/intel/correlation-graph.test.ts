import t from 'tap';
import {
  chains,
  describe,
  extendedDetails,
  NETBLOCK_WINDOW_MS,
  newPassChanges,
  noteAdded,
  noteMerged,
  sameAggregates,
  survivorOf,
  type GroupAggregates,
} from '../../../src/threat-cloud/intel/correlation-graph.js';
import type { GroupRow } from '../../../src/threat-cloud/intel/stores/campaigns.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function group(id: string, createdAt: number, formedAt: number | null = null): GroupRow {
  return {
    id,
    name: '',
    description: '',
    severity: 'low',
    first_seen: iso(createdAt),
    last_activity: iso(createdAt),
    ioc_count: 0,
    affected_orgs: 0,
    mitre_ids: '[]',
    tags: '[]',
    created_at: iso(createdAt),
    formed_at: formedAt === null ? null : iso(formedAt),
    updated_at: iso(createdAt),
  };
}

t.test('survivor: a campaign keeps its id over a group below campaign size, whichever is older', async (t) => {
  const campaign = group('campaign_b', T0 + 10, T0 + 20);
  const olderGroup = group('campaign_a', T0);
  t.same(survivorOf(campaign, olderGroup).map((g) => g.id), ['campaign_b', 'campaign_a']);
  t.same(survivorOf(olderGroup, campaign).map((g) => g.id), ['campaign_b', 'campaign_a'], 'the order of the arguments does not matter');
});

t.test('survivor: of two campaigns the one formed first, of two groups the older, then the smaller id', async (t) => {
  const early = group('campaign_z', T0 + 50, T0 + 60);
  const late = group('campaign_a', T0, T0 + 70);
  t.equal(survivorOf(late, early)[0].id, 'campaign_z', 'formed first wins over created first');
  t.equal(survivorOf(group('campaign_y', T0), group('campaign_x', T0 + 1))[0].id, 'campaign_y', 'the older group');
  t.equal(survivorOf(group('campaign_y', T0), group('campaign_x', T0))[0].id, 'campaign_x', 'same age: the smaller id');
  t.equal(survivorOf(group('campaign_x', T0), group('campaign_y', T0))[0].id, 'campaign_x');
});

t.test('a pass notes new groups and joins once per group', async (t) => {
  const pass = newPassChanges(iso(T0));
  noteAdded(pass, 'g1', 2);
  noteAdded(pass, 'g1', 1);
  noteAdded(pass, 'g2', 1);
  t.same([...pass.touched], ['g1', 'g2']);
  t.same(Object.fromEntries(pass.added), { g1: 3, g2: 1 });
  t.same([...pass.merged], []);
});

t.test('merging a campaign away tells the survivor once, and what the pass noted for it moves along', async (t) => {
  const pass = newPassChanges(iso(T0));
  noteAdded(pass, 'loser', 1);
  noteAdded(pass, 'survivor', 1);
  noteMerged(pass, 'survivor', { id: 'loser', formed_at: iso(T0) }, 4);
  t.same(Object.fromEntries(pass.merged), { survivor: ['loser'] }, 'a merge on the timeline');
  t.same(Object.fromEntries(pass.added), { survivor: 2 }, "the loser's own new member, not its old ones");
  t.same([...pass.touched], ['survivor'], 'the loser is gone from the pass');

  noteMerged(pass, 'survivor', { id: 'another', formed_at: iso(T0) }, 3);
  t.same(pass.merged.get('survivor'), ['loser', 'another'], 'every absorbed campaign is told');
});

t.test('absorbing a group below campaign size counts its members as new indicators of the survivor', async (t) => {
  const pass = newPassChanges(iso(T0));
  noteMerged(pass, 'survivor', { id: 'small', formed_at: null }, 2);
  t.same(Object.fromEntries(pass.added), { survivor: 2 });
  t.same([...pass.merged], [], 'no merge on the timeline: the small group was never a campaign');
  t.same([...pass.touched], ['survivor']);
});

t.test('a group formed in this pass and absorbed in it counts each of its members once', async (t) => {
  // Three addresses of one /24 form a campaign; two more reported together first form their
  // own pair, which the campaign then absorbs: 2 new indicators, not 4.
  const pass = newPassChanges(iso(T0));
  noteAdded(pass, 'pair', 2);
  noteMerged(pass, 'campaign', { id: 'pair', formed_at: null }, 2);
  t.same(Object.fromEntries(pass.added), { campaign: 2 });
  t.same([...pass.touched], ['campaign']);
});

t.test('chains: reports sorted by time, cut where two consecutive ones are more than the window apart', async (t) => {
  const at = (hours: number) => T0 + hours * 3_600_000;
  const reports = [
    { id: 'c', at: at(30) },
    { id: 'a', at: at(0) },
    { id: 'b', at: at(24) },
    { id: 'd', at: at(54.5) },
    { id: 'e', at: at(55) },
  ];
  const copy = structuredClone(reports);
  t.same(
    chains(reports).map((chain) => chain.map((report) => report.id)),
    [['a', 'b', 'c'], ['d', 'e']],
    'exactly 24 h apart is still connected; 24.5 h is not',
  );
  t.same(reports, copy, 'the input is left as it was');
  t.same(chains([]), []);
  t.same(chains(reports, 7 * 3_600_000).map((chain) => chain.length), [1, 2, 2], 'the window is a parameter');
  t.equal(NETBLOCK_WINDOW_MS, 24 * 3_600_000);
});

const aggregates: GroupAggregates = {
  severity: 'high',
  firstSeen: '2026-03-01T10:00:00.000Z',
  lastActivity: '2026-03-02T08:00:00.000Z',
  iocCount: 3,
  affectedOrgs: 1,
  mitreIds: ['T1046', 'T1110'],
  tags: ['scanner', 'ssh'],
  categories: ['scanner'],
  honeypotTypes: ['ssh'],
  byType: { ip: 2, domain: 1 },
};

t.test('describe: the description is made of the aggregates alone', async (t) => {
  t.equal(
    describe(aggregates),
    '3 related indicators (2 ip, 1 domain) reported by 1 reporter between 2026-03-01 and 2026-03-02. Activity: scanner. Observed by ssh honeypots.',
  );
  t.equal(describe({ ...aggregates, affectedOrgs: 2, categories: [], honeypotTypes: [] }), '3 related indicators (2 ip, 1 domain) reported by 2 reporters between 2026-03-01 and 2026-03-02.');
});

t.test('sameAggregates: a stored row equal to the new aggregates needs no write; any difference does', async (t) => {
  const row: GroupRow = {
    ...group('campaign_a', T0, T0),
    severity: 'high',
    first_seen: aggregates.firstSeen,
    last_activity: aggregates.lastActivity,
    ioc_count: 3,
    affected_orgs: 1,
    mitre_ids: JSON.stringify(aggregates.mitreIds),
    tags: JSON.stringify(aggregates.tags),
  };
  t.ok(sameAggregates(row, aggregates));
  const changes: Array<Partial<GroupAggregates>> = [
    { severity: 'critical' },
    { firstSeen: '2026-02-28T00:00:00.000Z' },
    { lastActivity: '2026-03-03T00:00:00.000Z' },
    { iocCount: 4 },
    { affectedOrgs: 2 },
    { mitreIds: ['T1046'] },
    { tags: ['ssh', 'scanner'] },
  ];
  for (const change of changes) t.notOk(sameAggregates(row, { ...aggregates, ...change }), JSON.stringify(change));
});

t.test('the timeline line of an extended campaign', async (t) => {
  t.equal(extendedDetails(1), '1 new indicator linked');
  t.equal(extendedDetails(5), '5 new indicators linked');
});
