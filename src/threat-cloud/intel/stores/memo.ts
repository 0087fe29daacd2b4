import type { Clock } from '../../../shared/clock.js';
import type { Db } from '../../../shared/db/open.js';

/** Distinct answers kept; the parameters of the analytics are a few enums, so this is plenty. */
const MAX_ENTRIES = 128;
const WINDOW_MS = 1000;

/**
 * Memoises aggregate answers while the data they read is unchanged: the key holds the newest
 * report (sightings rowid), the change sequence (new IoCs, status changes), the correlation
 * watermark and the current second. Repeated dashboard reads of a large table then cost one
 * SQL pass per second instead of one per request, and a burst of analytics calls cannot hold
 * the event loop (better-sqlite3 is synchronous) for every request.
 */
export function createAggregateMemo(db: Db, clock: Clock) {
  const version = db.prepare<[], { reports: number | null; seq: number | null; correlated: number | null }>(
    `SELECT (SELECT max(rowid) FROM sightings) AS reports,
            (SELECT value FROM tc_state WHERE name = 'seq') AS seq,
            (SELECT value FROM intel_state WHERE name = 'correlated_sighting') AS correlated`,
  );
  const entries = new Map<string, unknown>();

  return function memo<T>(name: string, params: object, compute: () => T): T {
    const v = version.get()!;
    const key = `${name}|${JSON.stringify(params)}|${v.reports}|${v.seq}|${v.correlated}|${Math.floor(clock.now() / WINDOW_MS)}`;
    if (entries.has(key)) return entries.get(key) as T;
    const value = compute();
    entries.set(key, value);
    if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
    return value;
  };
}
export type AggregateMemo = ReturnType<typeof createAggregateMemo>;
