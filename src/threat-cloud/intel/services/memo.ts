import type { Clock } from '../../../shared/clock.js';
import type { DataVersionStore } from '../stores/data-version.js';

/** Distinct answers kept; the parameters of the analytics are a few enums, so this is plenty. */
const MAX_ENTRIES = 128;
const WINDOW_MS = 1000;

/**
 * Memoises aggregate answers while the data they read is unchanged: the key holds the data
 * version (newest report, change sequence, correlation watermark) and the current second.
 * Repeated dashboard reads of a large table then cost one SQL pass per second instead of one
 * per request, and a burst of analytics calls cannot hold the event loop (SQLite answers
 * synchronously) for every request.
 */
export function createAggregateMemo(version: DataVersionStore, clock: Clock) {
  const entries = new Map<string, Promise<unknown>>();

  return async function memo<T>(name: string, params: object, compute: () => T | Promise<T>): Promise<T> {
    const v = await version.read();
    const key = `${name}|${JSON.stringify(params)}|${v.reports}|${v.seq}|${v.correlated}|${Math.floor(clock.now() / WINDOW_MS)}`;
    if (entries.has(key)) return entries.get(key) as Promise<T>;
    // An answer still on its way is shared by the requests asking meanwhile (the entry is set
    // in the same turn the computation starts); a failed one is forgotten, so the next
    // request asks again.
    const value = Promise.resolve(compute()).catch((error: unknown) => {
      entries.delete(key);
      throw error;
    });
    entries.set(key, value);
    if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
    return value;
  };
}
export type AggregateMemo = ReturnType<typeof createAggregateMemo>;
