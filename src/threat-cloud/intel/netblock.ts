import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network block the campaign rule groups IPs by: the /24 of an IPv4 address, the /48
 * of an IPv6 one. The key is textual (`v4:198.51.100` / `v6:2001:0db8:0001`) so that the
 * compressed forms of two addresses in the same /48 still meet; null for anything else.
 */
export function netblockOf(ip: string): string | null {
  if (isIPv4(ip)) return `v4:${ip.slice(0, ip.lastIndexOf('.'))}`;
  if (!isIPv6(ip)) return null;
  return `v6:${expandIpv6(ip).slice(0, 3).join(':')}`;
}

/** A human label of a block key: `198.51.100.0/24`, `2001:db8:1::/48`. */
export function netblockLabel(block: string): string {
  if (block.startsWith('v4:')) return `${block.slice(3)}.0/24`;
  const groups = block.slice(3).split(':').map((group) => group.replace(/^0+(?=.)/, ''));
  return `${groups.join(':')}::/48`;
}

/** The eight 4-digit groups of an IPv6 address (an embedded IPv4 tail becomes two groups). */
function expandIpv6(ip: string): string[] {
  let text = ip.toLowerCase().split('%')[0]!;
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4Tail) {
    const octets = v4Tail[1]!.split('.').map(Number);
    const hex = (a: number, b: number) => ((a << 8) | b).toString(16);
    text = `${text.slice(0, v4Tail.index)}${hex(octets[0]!, octets[1]!)}:${hex(octets[2]!, octets[3]!)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  return [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups].map((group) => group.padStart(4, '0'));
}
