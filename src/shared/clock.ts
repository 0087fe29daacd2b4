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

/** ISO 8601 UTC with milliseconds, the one timestamp format of the contract. */
export function toIso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
