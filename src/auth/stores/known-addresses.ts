import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Queryable, type Storage } from '../../shared/db/storage.js';
import { canonicalClientIp } from '../client-ip.js';
import { DAY_MS } from '../../shared/time.js';

/** How long a successful sign-in keeps its address exempt from the account-wide cap. */
export const KNOWN_ADDRESS_TTL_MS = 30 * DAY_MS;

export interface KnownAddress {
  ip: string;
  lastSuccessAt: string;
}

/** One address form per client: `::ffff:192.0.2.1` and `192.0.2.1` are the same place. */
const keyOf = (ip: string): string => canonicalClientIp(ip) ?? ip;

const UPSERT = defineStatement<[userId: string, ip: string, now: string]>(
  `INSERT INTO known_addresses (user_id, ip, last_success_at) VALUES (?, ?, ?)
     ON CONFLICT (user_id, ip) DO UPDATE SET last_success_at = excluded.last_success_at`,
);
const KNOWN = defineStatement<[userId: string, ip: string, cutoff: string], { n: number }>(
  `SELECT count(*) AS n FROM known_addresses WHERE user_id = ? AND ip = ? AND last_success_at > ?`,
);
const OF_USER = defineStatement<[userId: string], { ip: string; last_success_at: string }>(
  `SELECT ip, last_success_at FROM known_addresses WHERE user_id = ? ORDER BY last_success_at DESC, ip`,
);
const PURGE_BATCH = defineStatement<[cutoff: string, limit: number]>(
  `DELETE FROM known_addresses WHERE rowid IN
       (SELECT rowid FROM known_addresses WHERE last_success_at <= ? LIMIT ?)`,
);

/**
 * Addresses an account signed in from successfully (both factors), with the last such time.
 * Call `remember` inside the sign-in's transaction so it commits with the session.
 */
export function createKnownAddressStore(storage: Storage, clock: Clock) {
  const cutoff = (): string => toIso(clock.now() - KNOWN_ADDRESS_TTL_MS);

  return {
    async remember(q: Queryable, userId: string, ip: string): Promise<void> {
      await q.run(UPSERT, [userId, keyOf(ip), toIso(clock.now())]);
    },
    /** Whether the account fully signed in from this address within the last 30 days. */
    async isKnown(userId: string, ip: string): Promise<boolean> {
      return (await storage.get(KNOWN, [userId, keyOf(ip), cutoff()]))!.n > 0;
    },
    /** The account's addresses, stale ones included until the sweep: what the GDPR export shows. */
    async listAll(userId: string): Promise<KnownAddress[]> {
      return (await storage.all(OF_USER, [userId])).map((row) => ({ ip: row.ip, lastSuccessAt: row.last_success_at }));
    },
    /** Up to `limit` addresses without a sign-in for 30 days: one slice of the hourly sweep. */
    async purgeStale(limit: number): Promise<number> {
      return (await storage.run(PURGE_BATCH, [cutoff(), limit])).changes;
    },
  };
}
export type KnownAddressStore = ReturnType<typeof createKnownAddressStore>;
