import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import { campaignRecommendations, CATEGORY_RECOMMENDATIONS } from '../../../src/threat-cloud/intel/campaign-text.js';
import { activityRange, statusAt } from '../../../src/threat-cloud/intel/stores/campaigns.js';
import { largestRemainderTenths } from '../../../src/threat-cloud/intel/stores/geo.js';
import { intensityOf } from '../../../src/threat-cloud/intel/stores/heatmap.js';
import { createMitreCatalog } from '../../../src/threat-cloud/intel/mitre.js';
import { netblockLabel, netblockOf } from '../../../src/threat-cloud/intel/netblock.js';
import { bucketStart, bucketStarts } from '../../../src/threat-cloud/intel/periods.js';
import { changePercent } from '../../../src/threat-cloud/intel/stores/trends.js';
import { DAY } from './helper.js';

t.test('netblocks: /24 of IPv4, /48 of IPv6 whatever the compression', async (t) => {
  t.equal(netblockOf('198.51.100.7'), 'v4:198.51.100');
  t.equal(netblockOf('198.51.100.255'), netblockOf('198.51.100.0'));
  t.not(netblockOf('198.51.101.1'), netblockOf('198.51.100.1'));
  t.equal(netblockOf('2001:db8::1'), 'v6:2001:0db8:0000');
  t.equal(netblockOf('2001:db8:0:ffff::1'), 'v6:2001:0db8:0000');
  t.equal(netblockOf('2001:db8:1::'), 'v6:2001:0db8:0001');
  t.equal(netblockOf('::ffff:198.51.100.1'), 'v6:0000:0000:0000');
  t.equal(netblockOf('example.com'), null);
  t.equal(netblockLabel('v4:198.51.100'), '198.51.100.0/24');
  t.equal(netblockLabel('v6:2001:0db8:0000'), '2001:db8:0::/48');
});

t.test('buckets: UTC hour, day and Monday-based ISO week', async (t) => {
  const saturday = Date.parse('2026-03-07T12:34:56.789Z');
  t.equal(new Date(bucketStart(saturday, 'hour')).toISOString(), '2026-03-07T12:00:00.000Z');
  t.equal(new Date(bucketStart(saturday, 'day')).toISOString(), '2026-03-07T00:00:00.000Z');
  t.equal(new Date(bucketStart(saturday, 'week')).toISOString(), '2026-03-02T00:00:00.000Z');
  t.equal(new Date(bucketStart(Date.parse('2026-03-09T00:00:00.000Z'), 'week')).toISOString(), '2026-03-09T00:00:00.000Z', 'a Monday starts its own week');
  t.equal(new Date(bucketStart(Date.parse('2026-03-08T23:59:59.999Z'), 'week')).toISOString(), '2026-03-02T00:00:00.000Z', 'Sunday ends the week');
  t.equal(bucketStarts(saturday - 7 * DAY, saturday, 'day').length, 8);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.constantFrom('hour' as const, 'day' as const, 'week' as const), (ms, granularity) => {
      const start = bucketStart(ms, granularity);
      return start <= ms && bucketStart(start, granularity) === start && (granularity !== 'week' || new Date(start).getUTCDay() === 1);
    }),
  );
});

t.test('largest remainder: tenths always add up to 100.0 % and stay within 0.1 of the exact share', async (t) => {
  t.same(largestRemainderTenths([1, 1, 1]), [334, 333, 333]);
  t.same(largestRemainderTenths([3, 2, 1]), [500, 333, 167]);
  t.same(largestRemainderTenths([0, 0]), [0, 0]);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 250 }), (counts) => {
      const total = counts.reduce((sum, n) => sum + n, 0);
      const tenths = largestRemainderTenths(counts);
      if (total === 0) return tenths.every((n) => n === 0);
      return tenths.reduce((sum, n) => sum + n, 0) === 1000 && tenths.every((n, i) => Math.abs(n - (counts[i]! * 1000) / total) < 1);
    }),
  );
});

t.test('change percent, intensity and campaign status boundaries', async (t) => {
  t.equal(changePercent(5, 2), 150);
  t.equal(changePercent(2, 3), -33.3);
  t.equal(changePercent(3, 0), 100);
  t.equal(changePercent(0, 0), 0);
  t.equal(changePercent(0, 4), -100);
  t.same([100, 75, 74, 50, 49, 25, 24, 0].map((n) => intensityOf(n, 100)), ['critical', 'critical', 'high', 'high', 'medium', 'medium', 'low', 'low']);

  const now = Date.parse('2026-03-07T12:00:00.000Z');
  const ago = (ms: number) => new Date(now - ms).toISOString();
  t.equal(statusAt(ago(7 * DAY), now), 'active', 'exactly 7 days: still active');
  t.equal(statusAt(ago(7 * DAY + 1), now), 'dormant');
  t.equal(statusAt(ago(30 * DAY), now), 'dormant');
  t.equal(statusAt(ago(30 * DAY + 1), now), 'resolved');
  // The SQL ranges of the status filter agree with statusAt at every boundary.
  for (const age of [0, 7 * DAY, 7 * DAY + 1, 30 * DAY, 30 * DAY + 1, 90 * DAY]) {
    const lastActivity = ago(age);
    const status = statusAt(lastActivity, now);
    const range = activityRange(status, now);
    t.ok((range.from === null || lastActivity >= range.from) && (range.before === null || lastActivity < range.before), `age ${age}: ${status}`);
  }
});

t.test('recommendations: fixed text per category, deduplicated, feed advice last', async (t) => {
  const advice = campaignRecommendations(['bruteforce', 'bruteforce', 'c2'], ['ip', 'domain']);
  t.equal(advice[0], CATEGORY_RECOMMENDATIONS.bruteforce);
  t.equal(advice[1], CATEGORY_RECOMMENDATIONS.c2);
  t.match(advice[2], /Sinkhole/);
  t.match(advice.at(-1), /Subscribe/);
  t.equal(new Set(advice).size, advice.length);
});

t.test('the bundled ATT&CK table resolves ids to names and tactics', async (t) => {
  const mitre = createMitreCatalog();
  t.same(mitre.get('t1110'), { id: 'T1110', name: 'Brute Force', tactics: ['Credential Access'] });
  t.equal(mitre.nameOf('T0000'), 'T0000');
  const table = JSON.parse(readFileSync(new URL('../../../src/threat-cloud/data/mitre-attack-enterprise.json', import.meta.url), 'utf8')) as { license: string; techniques: Array<{ id: string; tactics: string[] }> };
  t.match(table.license, /MITRE Corporation/, 'the bundled file keeps MITRE\'s notice');
  t.ok(table.techniques.length > 600);
  t.ok(table.techniques.every(({ id, tactics }) => /^T\d{4}(\.\d{3})?$/.test(id) && tactics.length > 0));
  t.ok(table.techniques.every(({ id }) => mitre.get(id)?.id === id), 'every technique of the file is known to the catalog');
});
