import { isIP } from 'node:net';

/**
 * One spelling per client address, private ones included: IPv4-mapped IPv6 as plain IPv4,
 * IPv6 lower-case and compressed. Null for anything that is not an IP address. (The
 * Threat Cloud's `normaliseIp` is stricter: it refuses non-public addresses.)
 */
export function canonicalClientIp(raw: string): string | null {
  const ip = raw.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return isIP(mapped[1]!) === 4 ? mapped[1]! : null;
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return null;
}
