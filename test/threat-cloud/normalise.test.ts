import { BlockList } from 'node:net';
import t from 'tap';
import fc from 'fast-check';
import { guessType, normalise, normaliseDomain, normaliseIp, normaliseUrl, NormaliseError, type IocType } from '../../src/threat-cloud/normalise.js';

t.test('IPv4: dotted decimal, public only, leading zeros rejected, documentation ranges accepted', async (t) => {
  t.equal(normaliseIp(' 8.8.8.8 '), '8.8.8.8');
  for (const doc of ['192.0.2.1', '198.51.100.42', '203.0.113.255']) t.equal(normaliseIp(doc), doc);
  for (const bad of ['010.1.1.1', '8.8.8.08', '1.2.3', '256.1.1.1', '1.2.3.4.5', 'abc', '']) {
    t.throws(() => normaliseIp(bad), NormaliseError, bad);
  }
  for (const notPublic of ['10.0.0.1', '172.16.5.4', '192.168.1.1', '127.0.0.1', '169.254.1.1', '100.64.0.1', '224.0.0.1', '240.0.0.1', '255.255.255.255', '0.0.0.0', '198.18.0.1']) {
    t.throws(() => normaliseIp(notPublic), /not a public IP/, notPublic);
  }
});

t.test('IPv4: public or not exactly as the listed blocks say, for any address and at every block edge', async (t) => {
  const notPublic = new BlockList();
  const blocks: Array<[string, number]> = [
    ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
    ['192.0.0.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
  ];
  const docs: Array<[string, number]> = [['192.0.2.0', 24], ['198.51.100.0', 24], ['203.0.113.0', 24]];
  for (const [net, prefix] of blocks) notPublic.addSubnet(net, prefix, 'ipv4');
  const documentation = new BlockList();
  for (const [net, prefix] of docs) documentation.addSubnet(net, prefix, 'ipv4');
  const accepted = (ip: string) => {
    try {
      return normaliseIp(ip) === ip;
    } catch (error) {
      if (!(error instanceof NormaliseError)) throw error;
      return false;
    }
  };
  const expected = (ip: string) => documentation.check(ip, 'ipv4') || !notPublic.check(ip, 'ipv4');
  const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  const number = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  for (const [net, prefix] of [...blocks, ...docs]) {
    const first = number(net);
    const last = first + 2 ** (32 - prefix) - 1;
    for (const n of [first - 1, first, first + 1, last - 1, last, last + 1]) {
      if (n < 0 || n > 0xffffffff) continue;
      t.equal(accepted(dotted(n)), expected(dotted(n)), dotted(n));
    }
  }
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => accepted(dotted(n)) === expected(dotted(n))), { numRuns: 20_000 });
});

t.test('IPv6: RFC 5952 canonical form, never truncated, public only', async (t) => {
  t.equal(normaliseIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  t.equal(normaliseIp('2a00:1450:4001:0000:0000:0000:0000:200E'), '2a00:1450:4001::200e');
  t.equal(normaliseIp('2a00:0:0:1:0:0:0:1'), '2a00:0:0:1::1', 'longest zero run is compressed');
  t.equal(normaliseIp('2a00:1:0:0:1:0:0:1'), '2a00:1::1:0:0:1', 'first of equal runs is compressed');
  t.equal(normaliseIp('2a00:1:2:3:4:5:0:7'), '2a00:1:2:3:4:5:0:7', 'a single zero group is not compressed');
  t.equal(normaliseIp('2a00:1:2:3:4:5:6:7'), '2a00:1:2:3:4:5:6:7');
  t.equal(normaliseIp('2a00::1.2.3.4'), '2a00::102:304');
  for (const notPublic of ['::1', '::', 'fe80::1', 'fc00::1', 'ff02::1', '::ffff:8.8.8.8', '2001::1', '2002::1']) {
    t.throws(() => normaliseIp(notPublic), /not a public IP/, notPublic);
  }
  t.throws(() => normaliseIp('2001:db8::1%eth0'), NormaliseError);
  t.throws(() => normaliseIp('2001:db8:::1'), NormaliseError);
});

t.test('domains: lower-case, trailing dot removed, IDN to punycode, valid labels', async (t) => {
  t.equal(normaliseDomain('Evil.Example.COM.'), 'evil.example.com');
  t.equal(normaliseDomain('bücher.example'), 'xn--bcher-kva.example');
  for (const bad of ['localhost', '-a.example', 'a-.example', 'a..example', 'exa mple.com', `${'a'.repeat(64)}.com`, '1.2.3.4', 'http://x.com']) {
    t.throws(() => normaliseDomain(bad), NormaliseError, bad);
  }
});

t.test('URLs: scheme and host lower-cased, path and query kept as sent', async (t) => {
  t.equal(normaliseUrl('HTTP://Evil.Example.COM:80/Path/../A?Q=1&b=%41#frag'), 'http://evil.example.com/Path/../A?Q=1&b=%41');
  t.equal(normaliseUrl('https://EXAMPLE.com'), 'https://example.com/');
  t.equal(normaliseUrl('https://bücher.example:8443/x'), 'https://xn--bcher-kva.example:8443/x');
  for (const bad of ['example.com/path', 'http://', 'http://exa mple.com/', 'not a url']) t.throws(() => normaliseUrl(bad), NormaliseError, bad);
});

t.test('hashes, e-mails, CVEs', async (t) => {
  t.equal(normalise('hash', 'D41D8CD98F00B204E9800998ECF8427E'), 'd41d8cd98f00b204e9800998ecf8427e');
  t.equal(normalise('hash', 'a'.repeat(40)), 'a'.repeat(40));
  t.equal(normalise('hash', 'B'.repeat(64)), 'b'.repeat(64));
  t.throws(() => normalise('hash', 'a'.repeat(33)), NormaliseError);
  t.throws(() => normalise('hash', 'g'.repeat(32)), NormaliseError);
  t.equal(normalise('email', 'Phish@Bücher.Example'), 'phish@xn--bcher-kva.example');
  t.throws(() => normalise('email', 'no-at-sign'), NormaliseError);
  t.throws(() => normalise('email', 'a@localhost'), NormaliseError);
  t.equal(normalise('cve', 'cve-2024-3094'), 'CVE-2024-3094');
  t.equal(normalise('cve', 'CVE-2021-44228'), 'CVE-2021-44228');
  t.throws(() => normalise('cve', 'CVE-24-1'), NormaliseError);
  t.throws(() => normalise('domain', `${'a'.repeat(2050)}.com`), /longer than 2048/);
});

t.test('type guessing for lookups', async (t) => {
  const cases: Array<[string, IocType]> = [
    ['198.51.100.1', 'ip'], ['2001:db8::1', 'ip'], ['010.1.1.1', 'ip'], ['evil.example', 'domain'],
    ['d41d8cd98f00b204e9800998ecf8427e', 'hash'], ['https://x.example/a', 'url'], ['a@b.example', 'email'], ['CVE-2024-1234', 'cve'],
  ];
  for (const [value, type] of cases) t.equal(guessType(value), type, value);
});

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: length, maxLength: length });
const label = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?$/);
const domain = fc.tuple(fc.array(label, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[a-zA-Z]{2,6}$/)).map(([labels, tld]) => [...labels, tld].join('.'));
const candidates: Array<[IocType, fc.Arbitrary<string>]> = [
  ['ip', fc.ipV4()],
  ['ip', fc.ipV6()],
  ['domain', domain],
  ['domain', fc.domain()],
  ['hash', fc.oneof(hex(32), hex(40), hex(64))],
  ['url', fc.webUrl({ withQueryParameters: true, withFragments: true })],
  ['email', fc.emailAddress()],
  ['cve', fc.tuple(fc.integer({ min: 1999, max: 2099 }), fc.integer({ min: 1000, max: 9_999_999 })).map(([y, n]) => `cve-${y}-${n}`)],
];

t.test('property: normalisation is idempotent for every type (valid values) and never throws anything but NormaliseError', async (t) => {
  for (const [type, arbitrary] of candidates) {
    fc.assert(
      fc.property(arbitrary, (raw) => {
        let once: string;
        try {
          once = normalise(type, raw);
        } catch (error) {
          // Non-public or otherwise invalid generated values are rejected, and only that way.
          return error instanceof NormaliseError;
        }
        return normalise(type, once) === once;
      }),
      { numRuns: 300 },
    );
    t.pass(`${type} idempotent`);
  }
});

t.test('property: IPv6 canonical form round-trips through the parser to the same address', async (t) => {
  fc.assert(
    fc.property(fc.ipV6(), (raw) => {
      let canonical: string;
      try {
        canonical = normaliseIp(raw);
      } catch {
        return true;
      }
      // The canonical text names the same address (URL parsing is an independent parser).
      return new URL(`http://[${canonical}]/`).hostname === new URL(`http://[${raw}]/`).hostname && canonical === canonical.toLowerCase();
    }),
    { numRuns: 500 },
  );
  t.pass();
});
