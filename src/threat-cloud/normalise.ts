import { BlockList, isIP, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';

export const IOC_TYPES = ['ip', 'domain', 'hash', 'url', 'email', 'cve'] as const;
export type IocType = (typeof IOC_TYPES)[number];

export const MAX_VALUE_LENGTH = 2048;

/** A value that does not parse as its type; the message says why, without echoing it. */
export class NormaliseError extends Error {
  override name = 'NormaliseError';
}

const fail = (message: string): never => {
  throw new NormaliseError(message);
};

const IPV4_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_STRICT = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);

type Block = readonly [network: string, prefix: number];

/** IPv4 ranges that must never reach a blocklist: a network would cut itself off. */
const NOT_PUBLIC_V4: readonly Block[] = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16],
  ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
/** Documentation ranges are accepted so the contract's examples work. */
const DOCUMENTATION_V4: readonly Block[] = [['192.0.2.0', 24], ['198.51.100.0', 24], ['203.0.113.0', 24]];

/**
 * A dotted-decimal address (already checked by IPV4_STRICT) as an unsigned 32-bit number.
 * Read digit by digit: every lookup of an IP passes here, and splitting made an array and
 * four strings per call (about 1 µs of a lookup's server CPU in the issue-13 profile).
 */
function ipv4Number(text: string): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x2e) {
      n = n * 256 + octet;
      octet = 0;
    } else {
      octet = octet * 10 + (code - 0x30);
    }
  }
  return n * 256 + octet;
}

/**
 * IPv4 blocks as [first, last] numbers: checked with two comparisons each, because every
 * lookup and every reported IP passes here, and BlockList builds a SocketAddress per check.
 */
const ipv4Ranges = (blocks: readonly Block[]) =>
  blocks.map(([network, prefix]) => [ipv4Number(network), ipv4Number(network) + 2 ** (32 - prefix) - 1] as const);
const NOT_PUBLIC_V4_RANGES = ipv4Ranges(NOT_PUBLIC_V4);
const DOCUMENTATION_V4_RANGES = ipv4Ranges(DOCUMENTATION_V4);
const inRanges = (n: number, ranges: ReadonlyArray<readonly [number, number]>) => ranges.some(([first, last]) => n >= first && n <= last);

/** Inside 2000::/3 (the only global unicast space), the special-purpose blocks. */
const NOT_PUBLIC_V6 = new BlockList();
for (const [net, prefix] of [
  ['2001::', 23], ['2002::', 16],
] as const) NOT_PUBLIC_V6.addSubnet(net, prefix, 'ipv6');
const DOCUMENTATION_V6 = new BlockList();
DOCUMENTATION_V6.addSubnet('2001:db8::', 32, 'ipv6');

/** The eight 16-bit groups of a valid IPv6 address (an embedded IPv4 tail included). */
function ipv6Groups(text: string): number[] {
  let body = text;
  const lastColon = body.lastIndexOf(':');
  const tail = body.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!IPV4_STRICT.test(tail)) fail('has an invalid embedded IPv4 part');
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    body = `${body.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = body.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = halves.length === 2 ? 8 - head.length - rest.length : 0;
  return [...head, ...Array<number>(missing).fill(0), ...rest];
}

/** RFC 5952: lower-case, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * A public IP address in canonical form: IPv4 dotted decimal without leading zeros,
 * IPv6 per RFC 5952. Private, loopback, link-local, multicast and reserved addresses are
 * rejected (documentation ranges excepted).
 */
export function normaliseIp(input: string): string {
  const text = input.trim();
  // IPV4_STRICT accepts exactly what isIPv4 does (no leading zeros either).
  if (IPV4_STRICT.test(text)) {
    const n = ipv4Number(text);
    if (!inRanges(n, DOCUMENTATION_V4_RANGES) && inRanges(n, NOT_PUBLIC_V4_RANGES)) fail('is not a public IP address');
    return text;
  }
  if (IPV4_STRICT.test(text.replace(/(^|\.)0+(\d)/g, '$1$2')) && /^[\d.]+$/.test(text)) {
    fail('is not a dotted-decimal IPv4 address (leading zeros are ambiguous)');
  }
  if (!isIPv6(text) || text.includes('%')) fail('is not a valid IP address');
  const canonical = formatIpv6(ipv6Groups(text.toLowerCase()));
  if (DOCUMENTATION_V6.check(canonical, 'ipv6')) return canonical;
  // Only 2000::/3 is global unicast; inside it, the special-purpose blocks are refused too.
  const first = Number.parseInt(canonical.split(':')[0] || '0', 16);
  if ((first & 0xe000) !== 0x2000 || NOT_PUBLIC_V6.check(canonical, 'ipv6')) fail('is not a public IP address');
  return canonical;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Lower-case ASCII (punycode) domain without trailing dot, at least two valid labels. */
export function normaliseDomain(input: string): string {
  let text = input.trim();
  if (text.endsWith('.')) text = text.slice(0, -1);
  if (text === '' || /[\s/@:?#\\]/.test(text)) fail('is not a valid domain name');
  const ascii = domainToASCII(text.toLowerCase());
  if (!ascii || ascii.length > 253) fail('is not a valid domain name');
  const labels = ascii.split('.');
  if (labels.length < 2) fail('must have at least two labels');
  if (!labels.every((label) => LABEL.test(label))) fail('has an invalid label');
  if (/^[0-9]+$/.test(labels.at(-1)!)) fail('is not a valid domain name');
  return ascii;
}

const HASH = /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Lower-case hex MD5, SHA-1 or SHA-256. */
export function normaliseHash(input: string): string {
  const text = input.trim().toLowerCase();
  if (!HASH.test(text)) fail('is not an MD5, SHA-1 or SHA-256 hex digest');
  return text;
}

const URL_PARTS = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)/;

/**
 * WHATWG-parsed URL with scheme and host lower-cased (IDN hosts as punycode, default
 * ports dropped); path and query are kept exactly as sent, the fragment is dropped.
 */
export function normaliseUrl(input: string): string {
  const text = input.trim();
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(text)) fail('is not a valid URL');
  const parts = URL_PARTS.exec(text);
  if (!parts) fail('is not a valid absolute URL');
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return fail('is not a valid URL');
  }
  if (!parsed.hostname) fail('has no host');
  const userinfo = parsed.username ? `${parsed.username}${parsed.password ? `:${parsed.password}` : ''}@` : '';
  const pathAndQuery = parts![3]! === '' ? '/' : parts![3]!;
  return `${parsed.protocol}//${userinfo}${parsed.host}${pathAndQuery}`;
}

const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/** Lower-case address whose domain is a valid domain name. */
export function normaliseEmail(input: string): string {
  const text = input.trim().toLowerCase();
  const at = text.lastIndexOf('@');
  if (at <= 0) fail('is not a valid e-mail address');
  const local = text.slice(0, at);
  if (local.length > 64 || !LOCAL_PART.test(local)) fail('is not a valid e-mail address');
  let domain: string;
  try {
    domain = normaliseDomain(text.slice(at + 1));
  } catch {
    return fail('has an invalid domain');
  }
  return `${local}@${domain}`;
}

const CVE = /^CVE-(199\d|2\d{3})-(\d{4,})$/;

/** Upper-case `CVE-YYYY-NNNN+`. */
export function normaliseCve(input: string): string {
  const text = input.trim().toUpperCase();
  if (!CVE.test(text)) fail('is not a CVE id (CVE-YYYY-NNNN)');
  return text;
}

const NORMALISERS: Record<IocType, (value: string) => string> = {
  ip: normaliseIp,
  domain: normaliseDomain,
  hash: normaliseHash,
  url: normaliseUrl,
  email: normaliseEmail,
  cve: normaliseCve,
};

/** The canonical form of a value of this type; throws NormaliseError when it does not parse. */
export function normalise(type: IocType, value: string): string {
  if (value.length > MAX_VALUE_LENGTH) fail(`is longer than ${MAX_VALUE_LENGTH} characters`);
  return NORMALISERS[type](value);
}

/** The type a bare value most likely has (lookups without `?type=`). */
export function guessType(value: string): IocType {
  const text = value.trim();
  if (/^cve-\d{4}-\d+$/i.test(text)) return 'cve';
  if (isIP(text) || /^[\d.]+$/.test(text) || (text.includes(':') && !text.includes('/') && /^[0-9a-f:.%]+$/i.test(text))) return 'ip';
  if (/^[0-9a-f]+$/i.test(text) && [32, 40, 64].includes(text.length)) return 'hash';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return 'url';
  if (text.includes('@')) return 'email';
  return 'domain';
}
