import t from 'tap';
import { PANGUARD_IDENTITY_ID, stixPattern, toStixIndicator, uuidV5 } from '../../src/threat-cloud/stix.js';

const base = { reputation: 20, category: 'bruteforce', firstSeen: '2026-03-01T00:00:00.000Z', updatedAt: '2026-03-02T00:00:00.000Z' };

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
  const indicator = toStixIndicator({ type: 'ip', value: '198.51.100.42', ...base })!;
  t.equal(indicator.type, 'indicator');
  t.equal(indicator.spec_version, '2.1');
  t.match(indicator.id, /^indicator--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.equal(indicator.pattern_type, 'stix');
  t.equal(indicator.valid_from, base.firstSeen);
  t.equal(indicator.confidence, 80, 'confidence = 100 - reputation');
  t.equal(indicator.created_by_ref, PANGUARD_IDENTITY_ID);
  t.same(indicator.indicator_types, ['malicious-activity']);
  const again = toStixIndicator({ type: 'ip', value: '198.51.100.42', ...base, reputation: 5, updatedAt: '2026-04-01T00:00:00.000Z' })!;
  t.equal(again.id, indicator.id, 're-exports keep the id while the score changes');
  t.not(toStixIndicator({ type: 'domain', value: '198.51.100.42', ...base })!.id, indicator.id, 'the type is part of the id');
});
