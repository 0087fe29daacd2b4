import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import { defineStatement, type Queryable } from '../../../shared/db/storage.js';
import { PERIOD_MS, type Period } from '../periods.js';
import { counted } from './timeseries.js';

export interface GeoDistribution {
  period: Period;
  countries: Array<{ code: string; name: string; count: number; percentage: number }>;
  total: number;
}

/**
 * Whole tenths of a percent per count, rounded by largest remainder so that they add up
 * to exactly 1000 (100.0 %); ties go to the larger count, then the earlier position.
 */
export function largestRemainderTenths(counts: readonly number[]): number[] {
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (total === 0) return counts.map(() => 0);
  const exact = counts.map((n) => (n * 1000) / total);
  const tenths = exact.map(Math.floor);
  let left = 1000 - tenths.reduce((sum, n) => sum + n, 0);
  const order = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value), count: counts[index]! }))
    .sort((a, b) => b.remainder - a.remainder || b.count - a.count || a.index - b.index);
  for (const entry of order) {
    if (left <= 0) break;
    tenths[entry.index]! += 1;
    left -= 1;
  }
  return tenths;
}

/** IoCs by source country (stored at ingest) among those seen in the period. */
const COUNTRY_COUNTS = defineStatement<{ from: string; type: string | null }, { code: string; n: number }>(
  `SELECT country AS code, count(*) AS n FROM iocs
   WHERE country IS NOT NULL AND last_seen >= @from AND ${counted()} AND (CAST(@type AS TEXT) IS NULL OR type = @type)
   GROUP BY country ORDER BY n DESC, code`,
);

export function createGeoQuery(storage: Queryable, clock: Clock) {
  const names = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });
  const nameOf = (code: string) => {
    try {
      return names.of(code) ?? code;
    } catch {
      return code;
    }
  };

  return async (query: { period: Period; type?: string; limit: number }): Promise<GeoDistribution> => {
    const rows = await storage.all(COUNTRY_COUNTS, { from: toIso(clock.now() - PERIOD_MS[query.period]), type: query.type ?? null });
    const tenths = largestRemainderTenths(rows.map((row) => row.n));
    return {
      period: query.period,
      total: rows.reduce((sum, row) => sum + row.n, 0),
      countries: rows.slice(0, query.limit).map((row, index) => ({
        code: row.code,
        name: nameOf(row.code),
        count: row.n,
        percentage: tenths[index]! / 10,
      })),
    };
  };
}
