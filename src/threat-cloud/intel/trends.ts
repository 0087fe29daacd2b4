import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { DAY, HOUR } from './periods.js';

/** The roll-up's hour key (`YYYY-MM-DDTHH`) of an instant. */
const hourKey = (ms: number) => toIso(ms).slice(0, 13);
import { counted } from './timeseries.js';

/** Reports in the last 24 h from which an emerging IoC counts as `rapid`. */
export const RAPID_SIGHTINGS = 10;
const EMERGING_LIMIT = 10;

export interface Trends {
  periodDays: number;
  trends: Array<{
    category: string;
    direction: 'increasing' | 'decreasing';
    changePercent: number;
    currentRate: number;
    previousRate: number;
    description: string;
  }>;
  emergingThreats: Array<{ indicator: string; type: string; firstSeen: string; velocity: 'rapid' | 'steady'; sightingsLast24h: number }>;
}

/** (current − previous) / previous × 100 to one decimal; 100 when there was nothing before. */
export function changePercent(current: number, previous: number): number {
  if (previous === 0) return current > 0 ? 100 : 0;
  return Math.round(((current - previous) / previous) * 1000) / 10;
}

function describe(category: string, change: number, current: number, previous: number, days: number): string {
  const verb = change > 0 ? 'rose' : 'fell';
  const span = days === 1 ? 'the last day' : `the last ${days} days`;
  return `Reports of ${category} ${verb} by ${Math.abs(change).toFixed(1)}% in ${span} (${current} against ${previous} in the ${days === 1 ? 'day' : `${days} days`} before)`;
}

/** Category report rates of this period against the one before, and the fastest new IoCs. */
export function createTrendsQuery(db: Db, clock: Clock) {
  // Whole hours come from the hourly roll-up (migration 6); only the parts of the hours the
  // window's edges cut through are counted from the reports themselves, so the totals are
  // exact at millisecond edges while reading only two partial hours of reports per window.
  const wholeHours = db.prepare<{ after: string; before: string }, { category: string; n: number }>(
    `SELECT category, sum(sightings) AS n FROM intel_hourly
     WHERE hour > @after AND hour < @before AND category <> '' GROUP BY category`,
  );
  const partOfHour = db.prepare<{ after: string; before: string }, { category: string; n: number }>(
    `SELECT i.category AS category, count(*) AS n
     FROM sightings s JOIN iocs i ON i.id = s.ioc_id
     WHERE s.created_at > @after AND s.created_at < @before AND i.category IS NOT NULL AND ${counted('i.')}
     GROUP BY i.category`,
  );
  /** Reports per category with created_at in (fromMs, toMs]; both edges inside hours, at least an hour apart. */
  const reportsBetween = (fromMs: number, toMs: number): Map<string, number> => {
    const totals = new Map<string, number>();
    const add = (rows: Array<{ category: string; n: number }>) => {
      for (const row of rows) totals.set(row.category, (totals.get(row.category) ?? 0) + row.n);
    };
    const fromHourEnd = Math.floor(fromMs / HOUR) * HOUR + HOUR;
    const toHourStart = Math.floor(toMs / HOUR) * HOUR;
    add(partOfHour.all({ after: toIso(fromMs), before: toIso(fromHourEnd) }));
    add(wholeHours.all({ after: hourKey(fromMs), before: hourKey(toHourStart) }));
    add(partOfHour.all({ after: toIso(toHourStart - 1), before: toIso(toMs + 1) }));
    return totals;
  };
  // The day's reports drive (INDEXED BY: with statistics the planner prefers walking the whole
  // (ioc_id, created_at) index to skip a sort); each IoC is then read from iocs_id_analytics alone.
  const busiestNew = db.prepare<{ dayAgo: string; now: string; since: string; limit: number }, { value: string; type: string; first_seen: string; n: number }>(
    `SELECT i.value, i.type, i.first_seen, r.n FROM (
       SELECT ioc_id, count(*) AS n FROM sightings INDEXED BY sightings_created_ioc WHERE created_at > @dayAgo AND created_at <= @now GROUP BY ioc_id
     ) r JOIN iocs i ON i.id = r.ioc_id
     WHERE i.first_seen > @since AND +i.status = 'active'
     ORDER BY r.n DESC, i.first_seen DESC, i.value LIMIT @limit`,
  );
  const newest = db.prepare<{ since: string; limit: number }, { value: string; type: string; first_seen: string }>(
    `SELECT value, type, first_seen FROM iocs WHERE first_seen > @since AND +status = 'active' ORDER BY first_seen DESC, value LIMIT @limit`,
  );

  return (query: { periodDays: number; minChange: number }): Trends => {
    const now = clock.now();
    const period = query.periodDays * DAY;
    const window = { middle: toIso(now - period), now: toIso(now) };
    const current = reportsBetween(now - period, now);
    const previous = reportsBetween(now - 2 * period, now - period);
    const trends = [...new Set([...current.keys(), ...previous.keys()])]
      .map((category) => ({ category, current: current.get(category) ?? 0, previous: previous.get(category) ?? 0 }))
      .map((row) => ({ ...row, change: changePercent(row.current, row.previous) }))
      .filter((row) => row.change !== 0 && Math.abs(row.change) >= query.minChange)
      .sort((a, b) => Math.abs(b.change) - Math.abs(a.change) || a.category.localeCompare(b.category))
      .map((row) => ({
        category: row.category,
        direction: row.change > 0 ? ('increasing' as const) : ('decreasing' as const),
        changePercent: row.change,
        currentRate: row.current,
        previousRate: row.previous,
        description: describe(row.category, row.change, row.current, row.previous, query.periodDays),
      }));

    const since = window.middle;
    const busy = busiestNew.all({ dayAgo: toIso(now - DAY), now: window.now, since, limit: EMERGING_LIMIT });
    const chosen = new Set(busy.map((row) => `${row.type}:${row.value}`));
    // Fewer than ten reported in the last day: the newest quiet ones complete the list.
    const quiet = busy.length < EMERGING_LIMIT
      ? newest.all({ since, limit: 2 * EMERGING_LIMIT }).filter((row) => !chosen.has(`${row.type}:${row.value}`)).map((row) => ({ ...row, n: 0 }))
      : [];
    const emergingThreats = [...busy, ...quiet].slice(0, EMERGING_LIMIT).map((row) => ({
      indicator: row.value,
      type: row.type,
      firstSeen: row.first_seen,
      velocity: row.n >= RAPID_SIGHTINGS ? ('rapid' as const) : ('steady' as const),
      sightingsLast24h: row.n,
    }));
    return { periodDays: query.periodDays, trends, emergingThreats };
  };
}
