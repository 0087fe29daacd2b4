import t from 'tap';
import { computeReputation } from '../../src/threat-cloud/reputation.js';
import { mergedIoc, mergeMetadata, newIoc, reputationFor, type IocReport } from '../../src/threat-cloud/services/ioc-builders.js';
import type { Ioc } from '../../src/threat-cloud/stores/iocs.js';

const NOW = Date.parse('2026-03-07T12:00:00.000Z');
const at = { now: NOW, nowIso: '2026-03-07T12:00:00.000Z', seq: 42 };
const noGeo = () => null;

const report = (extra: Partial<IocReport> = {}): IocReport => ({ type: 'ip', value: '203.0.113.7', source: 'guard', kind: 'upload', ...extra });

const stored = (extra: Partial<Ioc> = {}): Ioc => ({
  id: 'ioc_1',
  type: 'ip',
  value: '203.0.113.7',
  reputation: 60,
  status: 'active',
  category: 'scanner',
  severity: 'high',
  confidence: 0.7,
  sightings: 3,
  reporters: 2,
  trap: false,
  source: 'guard',
  sources: ['guard'],
  metadata: { ports: [22] },
  country: null,
  firstSeen: '2026-03-01T00:00:00.000Z',
  lastSeen: '2026-03-06T00:00:00.000Z',
  updatedAt: '2026-03-06T00:00:00.000Z',
  changeSeq: 7,
  ...extra,
});

const merge = (existing: Ioc, incoming: Partial<IocReport> = {}, newReporter = false, countryOf: (ip: string) => string | null = noGeo) =>
  mergedIoc(existing, report(incoming), { ...at, newReporter }, countryOf);

t.test('newIoc: one sighting, one reporter, one source, defaults for what the report leaves out', async (t) => {
  const ioc = newIoc(report(), 'ioc_new', at, noGeo);
  t.same(ioc, {
    id: 'ioc_new',
    type: 'ip',
    value: '203.0.113.7',
    status: 'active',
    category: null,
    severity: 'medium',
    confidence: 0.5,
    sightings: 1,
    reporters: 1,
    trap: false,
    source: 'guard',
    sources: ['guard'],
    metadata: {},
    country: null,
    firstSeen: at.nowIso,
    lastSeen: at.nowIso,
    updatedAt: at.nowIso,
    reputation: computeReputation({ severity: 'medium', confidence: 0.5, reports: 1, reporters: 1, trap: false, days: 0 }),
    changeSeq: 42,
  });
  const full = newIoc(report({ category: 'c2', severity: 'critical', confidence: 0.9, trap: true, metadata: { family: 'mirai' } }), 'ioc_2', at, noGeo);
  t.equal(full.category, 'c2');
  t.equal(full.severity, 'critical');
  t.equal(full.confidence, 0.9);
  t.equal(full.trap, true);
  t.same(full.metadata, { family: 'mirai' });
});

t.test('newIoc: a two-letter metadata.country wins (upper-cased), else GeoIP for IPs only', async (t) => {
  const looked: string[] = [];
  const geo = (ip: string) => {
    looked.push(ip);
    return 'NL';
  };
  const given = newIoc(report({ metadata: { country: 'de' } }), 'ioc_a', at, geo);
  t.equal(given.country, 'DE');
  t.same(given.metadata, { country: 'DE' });
  t.same(looked, [], 'no GeoIP lookup when the report names the country');
  const resolved = newIoc(report({ metadata: { country: 'Germany' } }), 'ioc_b', at, geo);
  t.equal(resolved.country, 'NL', 'not a two-letter code: GeoIP');
  t.same(resolved.metadata, { country: 'NL' });
  const domain = newIoc(report({ type: 'domain', value: 'evil.example' }), 'ioc_c', at, geo);
  t.equal(domain.country, null);
  t.same(looked, ['203.0.113.7'], 'GeoIP is asked about IPs only');
});

t.test('mergedIoc: counts, lastSeen and change position move; identity and firstSeen stay', async (t) => {
  const existing = stored();
  const ioc = merge(existing, {}, true);
  t.equal(ioc.id, 'ioc_1');
  t.equal(ioc.sightings, 4);
  t.equal(ioc.reporters, 3, 'a reporter not seen before counts');
  t.equal(merge(existing, {}, false).reporters, 2, 'a known reporter does not');
  t.equal(ioc.firstSeen, existing.firstSeen);
  t.equal(ioc.lastSeen, at.nowIso);
  t.equal(ioc.updatedAt, at.nowIso);
  t.equal(ioc.changeSeq, 42);
  t.equal(ioc.source, 'guard', 'the first source stays the source');
  t.equal(ioc.reputation, computeReputation({ severity: 'high', confidence: 0.7, reports: 4, reporters: 3, trap: false, days: 0 }));
});

t.test('mergedIoc: severity and confidence only rise; category and trap are kept once set', async (t) => {
  const existing = stored();
  t.equal(merge(existing, { severity: 'low' }).severity, 'high');
  t.equal(merge(existing, { severity: 'critical' }).severity, 'critical');
  t.equal(merge(existing, {}).severity, 'high', 'a sighting without severity keeps it');
  t.equal(merge(existing, { confidence: 0.2 }).confidence, 0.7);
  t.equal(merge(existing, { confidence: 0.95 }).confidence, 0.95);
  t.equal(merge(existing, { category: 'c2' }).category, 'scanner', 'the first category stays');
  t.equal(merge(stored({ category: null }), { category: 'c2' }).category, 'c2');
  t.equal(merge(existing, { trap: true }).trap, true);
  t.equal(merge(stored({ trap: true }), { trap: false }).trap, true, 'a trap mark stays');
});

t.test('mergedIoc: sources gain a new name once, up to 256', async (t) => {
  t.same(merge(stored(), { source: 'feed-x' }).sources, ['guard', 'feed-x']);
  t.same(merge(stored(), { source: 'guard' }).sources, ['guard']);
  const full = Array.from({ length: 256 }, (_, i) => `s${i}`);
  t.equal(merge(stored({ sources: full }), { source: 'one-more' }).sources.length, 256);
});

t.test('mergedIoc: metadata arrays are unioned, other keys take the newer value; the input is not changed', async (t) => {
  const existing = stored({ metadata: { ports: [22, 80], note: 'old' }, country: 'FR' });
  const ioc = merge(existing, { metadata: { ports: [80, 443], note: 'new', tags: ['x'] } });
  t.same(ioc.metadata, { ports: [22, 80, 443], note: 'new', country: 'FR', tags: ['x'] });
  t.same(existing.metadata, { ports: [22, 80], note: 'old' }, 'the stored IoC is not mutated');
  const sighting = merge(existing, {});
  t.same(sighting.metadata, { ports: [22, 80], note: 'old', country: 'FR' }, 'the stored country is written into metadata');
  t.same(existing.metadata, { ports: [22, 80], note: 'old' }, 'not even without new metadata');
});

t.test('mergedIoc: the stored country stays unless the report names one; GeoIP only when there is none', async (t) => {
  const geo = () => 'NL';
  t.equal(merge(stored({ country: 'FR' }), {}, false, geo).country, 'FR');
  t.equal(merge(stored({ country: 'FR' }), { metadata: { country: 'it' } }, false, geo).country, 'IT');
  t.equal(merge(stored({ country: null }), {}, false, geo).country, 'NL');
  t.equal(merge(stored({ country: null }), {}).country, null);
});

t.test('mergedIoc: an expired IoC is active again; whitelisted and revoked keep their status', async (t) => {
  t.equal(merge(stored({ status: 'expired' })).status, 'active');
  const whitelisted = merge(stored({ status: 'whitelisted', reputation: 100 }), { severity: 'critical' });
  t.equal(whitelisted.status, 'whitelisted');
  t.equal(whitelisted.reputation, 100, 'a whitelisted IoC stays trusted whatever is reported');
  t.equal(merge(stored({ status: 'revoked' })).status, 'revoked');
});

t.test('mergeMetadata: union bounded at 256 items, no incoming keeps the same object', async (t) => {
  const current = { list: Array.from({ length: 255 }, (_, i) => i) };
  t.equal(mergeMetadata(current, undefined), current);
  t.same((mergeMetadata(current, { list: [1000, 1001] }).list as number[]).slice(-2), [254, 1000]);
  t.same(mergeMetadata({ a: [{ k: 1 }] }, { a: [{ k: 1 }, { k: 2 }] }), { a: [{ k: 1 }, { k: 2 }] }, 'identity by JSON');
  t.same(mergeMetadata({ a: [1] }, { a: 'scalar' }), { a: 'scalar' });
});

t.test('reputationFor decays with the days since lastSeen', async (t) => {
  const ioc = stored({ lastSeen: '2026-02-05T12:00:00.000Z' });
  t.equal(reputationFor(ioc, NOW), computeReputation({ severity: 'high', confidence: 0.7, reports: 3, reporters: 2, trap: false, days: 30 }));
  t.ok(reputationFor(ioc, NOW) > reputationFor(stored({ lastSeen: at.nowIso }), NOW), 'older is less malicious');
  t.equal(reputationFor(stored({ lastSeen: '2026-04-01T00:00:00.000Z' }), NOW), reputationFor(stored({ lastSeen: at.nowIso }), NOW), 'a future lastSeen counts as now');
});
