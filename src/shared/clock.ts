/** Time source handed to every app, so tests can move time without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  constructor(private current: number = Date.parse('2026-03-07T12:00:00.000Z')) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(epochMs: number): void {
    this.current = epochMs;
  }
}

/** The two latest seconds V8 formatted, each as its text up to the milliseconds ("2026-03-07T12:00:00."). */
const formattedSeconds = [Number.NaN, Number.NaN];
const formattedPrefixes = ['', ''];
/** Which of the two slots the next new second replaces: the one used less recently. */
let olderSlot = 0;
/** Where `Date` ends (±100,000,000 days): beyond it toISOString throws, and so must toIso. */
const LAST_DATE_MS = 8.64e15;

/**
 * ISO 8601 UTC with milliseconds, the one timestamp format of the contract: exactly what
 * `toISOString()` writes. V8 formats through snprintf, about 7,500 instructions a call
 * (callgrind), and an authenticated request takes two or more; so a second is formatted once
 * and the milliseconds are appended to its text. Two seconds are kept because requests
 * alternate between two instants (a session check compares "now" with its idle cut-off).
 */
export function toIso(epochMs: number): string {
  if (!Number.isInteger(epochMs) || Math.abs(epochMs) > LAST_DATE_MS) return new Date(epochMs).toISOString();
  const second = Math.floor(epochMs / 1000);
  const slot = second === formattedSeconds[0] ? 0 : second === formattedSeconds[1] ? 1 : -1;
  if (slot === -1) {
    const text = new Date(epochMs).toISOString();
    formattedSeconds[olderSlot] = second;
    formattedPrefixes[olderSlot] = text.slice(0, -4);
    olderSlot = 1 - olderSlot;
    return text;
  }
  olderSlot = 1 - slot;
  const ms = epochMs - second * 1000;
  return formattedPrefixes[slot] + (ms < 10 ? '00' : ms < 100 ? '0' : '') + ms + 'Z';
}
