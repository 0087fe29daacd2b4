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

/** The latest second V8 formatted, as its text up to the milliseconds ("2026-03-07T12:00:00."). */
let formattedSecond = Number.NaN;
let formattedPrefix = '';
/** Where `Date` ends (±100,000,000 days): beyond it toISOString throws, and so must toIso. */
const LAST_DATE_MS = 8.64e15;

/**
 * ISO 8601 UTC with milliseconds, the one timestamp format of the contract: exactly what
 * `toISOString()` writes. V8 formats through snprintf, about 7,500 instructions a call
 * (callgrind), and an authenticated request takes two or more; so each second is formatted
 * once and the milliseconds are appended to its text.
 */
export function toIso(epochMs: number): string {
  const second = Math.floor(epochMs / 1000);
  if (second !== formattedSecond || !Number.isInteger(epochMs) || Math.abs(epochMs) > LAST_DATE_MS) {
    const text = new Date(epochMs).toISOString();
    if (Number.isInteger(epochMs)) {
      formattedSecond = second;
      formattedPrefix = text.slice(0, -4);
    }
    return text;
  }
  const ms = epochMs - second * 1000;
  return formattedPrefix + (ms < 10 ? '00' : ms < 100 ? '0' : '') + ms + 'Z';
}
