import type { IpReputation } from '../auth/ports.js';
import { defineStatement, type Storage } from '../shared/db/storage.js';
import { publicIpOrNull } from './public-ip.js';

/** Reputation at or below this marks an address as known-malicious for logins. */
export const MALICIOUS_REPUTATION = 30;

const MALICIOUS_IPS = defineStatement<[value: string, maxReputation: number], { n: number }>(
  `SELECT count(*) AS n FROM iocs WHERE type = 'ip' AND value = ? AND status = 'active' AND reputation <= ?`,
);

/**
 * A dual-stack listener reports IPv4 clients IPv4-mapped (`::ffff:203.0.113.5`); the Threat
 * Cloud stores them as plain IPv4.
 */
function unmapped(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip.trim());
  return mapped ? mapped[1]! : ip;
}

/** Reads the Threat Cloud's `iocs` table: is this client address known to be malicious? */
export function createIpReputation(storage: Storage): IpReputation {
  return {
    async isMalicious(ip) {
      const value = publicIpOrNull(unmapped(ip));
      return value !== null && (await storage.get(MALICIOUS_IPS, [value, MALICIOUS_REPUTATION]))!.n > 0;
    },
  };
}
