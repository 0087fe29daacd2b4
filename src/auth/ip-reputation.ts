import { isIP } from 'node:net';
import type { Db } from '../shared/db/open.js';

/** Reputation at or below this marks an address as known-malicious for logins. */
export const MALICIOUS_REPUTATION = 30;

/**
 * An address in the form the Threat Cloud stores it: IPv4-mapped IPv6 as plain IPv4,
 * IPv6 lower-case and compressed. Null for anything that is not an IP address.
 */
export function normaliseIp(raw: string): string | null {
  const ip = raw.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return isIP(mapped[1]!) === 4 ? mapped[1]! : null;
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return null;
}

/** Reads the Threat Cloud's `iocs` table: is this client address known to be malicious? */
export function createIpReputation(db: Db) {
  const lookup = db.prepare<[string, number], { n: number }>(
    `SELECT count(*) AS n FROM iocs WHERE type = 'ip' AND value = ? AND status = 'active' AND reputation <= ?`,
  );
  return {
    isMalicious(ip: string): boolean {
      const value = normaliseIp(ip);
      return value !== null && lookup.get(value, MALICIOUS_REPUTATION)!.n > 0;
    },
  };
}
export type IpReputation = ReturnType<typeof createIpReputation>;
