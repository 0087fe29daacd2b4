import { DAY_MS, HOUR_MS, PERIOD_MS } from '../../shared/time.js';

export const PERIODS = ['24h', '7d', '30d', '90d'] as const;
export type Period = (typeof PERIODS)[number];
export { PERIOD_MS };

export const GRANULARITIES = ['hour', 'day', 'week'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

/** Start of the UTC hour, day or ISO week (Monday) containing `ms`. */
export function bucketStart(ms: number, granularity: Granularity): number {
  if (granularity === 'hour') return Math.floor(ms / HOUR_MS) * HOUR_MS;
  const day = Math.floor(ms / DAY_MS) * DAY_MS;
  if (granularity === 'day') return day;
  const mondayOffset = (new Date(day).getUTCDay() + 6) % 7;
  return day - mondayOffset * DAY_MS;
}

const STEP_MS: Record<Granularity, number> = { hour: HOUR_MS, day: DAY_MS, week: 7 * DAY_MS };

/** Starts of every bucket from the one containing `fromMs` to the one containing `toMs`, inclusive. */
export function bucketStarts(fromMs: number, toMs: number, granularity: Granularity): number[] {
  const starts: number[] = [];
  for (let at = bucketStart(fromMs, granularity); at <= toMs; at += STEP_MS[granularity]) starts.push(at);
  return starts;
}

