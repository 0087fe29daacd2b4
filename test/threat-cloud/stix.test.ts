import t from 'tap';
import { computeReputation } from '../../src/threat-cloud/reputation.js';
import { DAY_MS } from '../../src/shared/time.js';
import { PANGUARD_IDENTITY_ID, panguardIdentity, stixPattern, toStixIndicators, uuidV5, type StixSource } from '../../src/threat-cloud/stix.js';

const score = { severity: 'critical' as const, confidence: 1, sightings: 2, reporters: 2, trap: false };
const base = {
  reputation: 20,
  status: 'active' as const,
  category: 'bruteforce' as const,
  firstSeen: '2026-03-01T00:00:00.000Z',
  lastSeen: '2026-03-02T00:00:00.000Z',
  updatedAt: '2026-03-02T00:00:00.000Z',
  score,
};
const view = { now: Date.parse('2026-03-03T00:00:00.000Z') };

t.test('uuidV5 matches the RFC 4122 reference value', async (t) => {
  // python: uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org') == 886313e1-3b8a-5372-9b90-0c9aee199e5d
  t.equal(uuidV5('python.org', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'), '886313e1-3b8a-5372-9b90-0c9aee199e5d');
});

t.test('patterns per type, with quoting that cannot be broken out of', async (t) => {
  t.equal(stixPattern('ip', '198.51.100.42'), "[ipv4-addr:value = '198.51.100.42']");
  t.equal(stixPattern('ip', '2001:db8::1'), "[ipv6-addr:value = '2001:db8::1']");
  t.equal(stixPattern('domain', 'evil.example'), "[domain-name:value = 'evil.example']");
  t.equal(stixPattern('url', "http://x.example/a'b\\c"), "[url:value = 'http://x.example/a\\'b\\\\c']");
  t.equal(stixPattern('hash', 'a'.repeat(64)), `[file:hashes.'SHA-256' = '${'a'.repeat(64)}']`);
  t.equal(stixPattern('hash', 'b'.repeat(40)), `[file:hashes.'SHA-1' = '${'b'.repeat(40)}']`);
  t.equal(stixPattern('hash', 'c'.repeat(32)), `[file:hashes.'MD5' = '${'c'.repeat(32)}']`);
  t.equal(stixPattern('email', 'a@evil.example'), "[email-addr:value = 'a@evil.example']");
  t.equal(stixPattern('cve', 'CVE-2024-1234'), null, 'a CVE is a vulnerability, not an observable pattern');
});

t.test('indicators have the required STIX 2.1 properties and stable ids', async (t) => {
  const indicator = toStixIndicators({ type: 'ip', value: '198.51.100.42', ...base }, view).at(-1)!;
  t.equal(indicator.type, 'indicator');
  t.equal(indicator.spec_version, '2.1');
  t.match(indicator.id, /^indicator--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.equal(indicator.pattern_type, 'stix');
  t.equal(indicator.valid_from, base.firstSeen);
  t.equal(indicator.confidence, 80, 'confidence = 100 - reputation');
  t.equal(indicator.created_by_ref, PANGUARD_IDENTITY_ID);
  t.same(indicator.indicator_types, ['malicious-activity']);
  const again = toStixIndicators({ type: 'ip', value: '198.51.100.42', ...base, reputation: 5, updatedAt: '2026-04-01T00:00:00.000Z' }, view).at(-1)!;
  t.equal(again.id, indicator.id, 're-exports keep the id while the score changes');
  t.not(toStixIndicators({ type: 'domain', value: '198.51.100.42', ...base }, view).at(-1)!.id, indicator.id, 'the type is part of the id');
});

t.test('modified: the last write, or the moment the decay moved the exported score', async (t) => {
  const lastSeen = Date.parse(base.lastSeen);
  const at = (days: number) => lastSeen + days * DAY_MS;
  // What the refresh would have stored `days` after the last sighting.
  const decayed = (days: number) => computeReputation({ ...score, reports: score.sightings, days });
  const source = (days: number, extra: Partial<StixSource> = {}): StixSource => ({ type: 'ip', value: '198.51.100.42', ...base, reputation: decayed(days), ...extra });
  const written = toStixIndicators(source(0), { now: at(0) }).at(-1)!;
  t.equal(written.modified, base.updatedAt, 'as written: the write time');
  t.equal(toStixIndicators(source(0), { now: at(20) }).at(-1)!.modified, base.updatedAt, 'the same state keeps its version later on');

  const after10 = toStixIndicators(source(10), { now: at(10) }).at(-1)!;
  t.not(after10.confidence, written.confidence, 'ten days of decay changed the score');
  const versionAt = Date.parse(after10.modified);
  t.ok(versionAt > lastSeen && versionAt <= at(10), 'dated after the write, not after the refresh');
  t.equal(decayed((versionAt - lastSeen) / DAY_MS), decayed(10), 'the score had its current value at the version time');
  t.not(decayed((versionAt - 1 - lastSeen) / DAY_MS), decayed(10), '... and not a millisecond before');
  t.equal(toStixIndicators(source(10), { now: at(30) }).at(-1)!.modified, after10.modified, 'a later export of the same state is the same version');
  t.ok(Date.parse(toStixIndicators(source(20), { now: at(20) }).at(-1)!.modified) > versionAt, 'more decay, later version');

  const rewritten = toStixIndicators(source(10, { updatedAt: new Date(at(11)).toISOString() }), { now: at(11) }).at(-1)!;
  t.equal(rewritten.modified, new Date(at(11)).toISOString(), 'a later write wins over an earlier decay');
  const whitelisted = toStixIndicators(source(0, { status: 'whitelisted', reputation: 100 }), { now: at(5) }).at(-1)!;
  t.equal(whitelisted.modified, base.updatedAt, 'a whitelisted score is pinned, not decayed');
  t.equal(whitelisted.revoked, true);
  t.equal(whitelisted.confidence, 0);
  const revokedNow = toStixIndicators(source(0, { status: 'revoked' }), { now: at(0) }).at(-1)!;
  const revokedLater = toStixIndicators(source(10, { status: 'revoked' }), { now: at(10) }).at(-1)!;
  t.same(revokedLater, revokedNow, 'decay does not re-version a revoked indicator (STIX allows no versions after revocation)');
  t.equal(revokedNow.confidence, 100 - decayed(0), 'its confidence is the score of its last write');
  t.equal(toStixIndicators(source(0, { reputation: 99 }), { now: at(1) }).at(-1)!.modified, base.updatedAt, 'a score the formula reaches only in the future is not a decay');
  t.equal(toStixIndicators(source(0, { firstSeen: '2026-03-05T00:00:00.000Z' }), { now: at(5) }).at(-1)!.modified, '2026-03-05T00:00:00.000Z', 'never before created');
});

t.test('revoked only for whitelisted and revoked; expiry and the threshold are validity', async (t) => {
  const ip = { type: 'ip', value: '198.51.100.42', ...base };
  t.equal(toStixIndicators({ ...ip, status: 'revoked' }, view).at(-1)!.revoked, true);
  t.equal(toStixIndicators(ip, view).at(-1)!.revoked, false);
  t.equal(toStixIndicators(ip, view).at(-1)!.valid_until, undefined);
  const expired = toStixIndicators({ ...ip, status: 'expired', updatedAt: '2026-06-01T00:00:00.000Z' }, { now: Date.parse('2026-06-02T00:00:00.000Z') }).at(-1)!;
  t.equal(expired.revoked, false, 'a new sighting may reactivate it under the same id; revocation is final in STIX');
  t.equal(expired.valid_until, '2026-06-01T00:00:00.000Z');
  const above = toStixIndicators(ip, { ...view, maxReputation: 10 }).at(-1)!;
  t.equal(above.revoked, false);
  t.equal(above.valid_until, base.updatedAt, 'outside the requested threshold since its last write');
  const fresh = toStixIndicators({ ...ip, updatedAt: base.firstSeen }, { ...view, maxReputation: 10 }).at(-1)!;
  t.ok(fresh.valid_until! > fresh.valid_from, 'valid_until always follows valid_from');
  t.equal(toStixIndicators(ip, { ...view, maxReputation: 20 }).at(-1)!.valid_until, undefined, 'at the threshold: listed');
});
