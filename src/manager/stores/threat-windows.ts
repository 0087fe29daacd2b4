import type { SummaryPeriod } from '../schemas.js';
import { HOUR_MS } from '../../shared/time.js';


/**
 * The windows the threat counts are kept for: every summary period (ending now, open at the
 * top like the summary itself) and `all`, which never moves and gives exact list totals.
 */
export const WINDOW_SPANS: Readonly<Record<SummaryPeriod | 'all', number | null>> = {
  all: null,
  '1h': HOUR_MS,
  '6h': 6 * HOUR_MS,
  '24h': 24 * HOUR_MS,
  '7d': 7 * 24 * HOUR_MS,
  '30d': 30 * 24 * HOUR_MS,
};
export type WindowName = keyof typeof WINDOW_SPANS;
export const WINDOW_NAMES = Object.keys(WINDOW_SPANS) as WindowName[];

/** Counted dimensions of an event; `ip` only in the moving windows (no list filters on it). */
export type CountKind = 'severity' | 'type' | 'agent' | 'ip';
/** The scope of the counts over every organisation (an org id is never empty). */
export const ALL_ORGS = '';

/** Where a window starts: events at or after `(ms, seq)` in `(timestamp_ms, seq)` order are counted. */
export interface WindowStart {
  ms: number;
  seq: number;
}

/** The start of the `all` window: before any event. */
export const FOREVER: WindowStart = { ms: Number.MIN_SAFE_INTEGER, seq: 0 };

export const isCounted = (timestampMs: number, seq: number, start: WindowStart) =>
  timestampMs > start.ms || (timestampMs === start.ms && seq >= start.seq);

export const compareStarts = (a: WindowStart, b: WindowStart) => (a.ms === b.ms ? a.seq - b.seq : a.ms < b.ms ? -1 : 1);

/** Where a window should start at `now`: its first counted event is the first at `now − span`. */
export function targetStart(name: WindowName, now: number): WindowStart {
  const span = WINDOW_SPANS[name];
  return span === null ? FOREVER : { ms: now - span, seq: 0 };
}
