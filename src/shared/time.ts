/** Durations in milliseconds, the unit of the clock (`Clock.now()`) and of every window here. */
export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/**
 * The period labels the contract uses in query strings (`?period=24h`), as durations. Each
 * service accepts its own subset (the Manager's summaries, the Threat Cloud's analytics);
 * one table keeps a label meaning the same length everywhere.
 */
export const PERIOD_MS = {
  '1h': HOUR_MS,
  '6h': 6 * HOUR_MS,
  '24h': DAY_MS,
  '7d': 7 * DAY_MS,
  '30d': 30 * DAY_MS,
  '90d': 90 * DAY_MS,
} as const satisfies Record<string, number>;
export type PeriodLabel = keyof typeof PERIOD_MS;
