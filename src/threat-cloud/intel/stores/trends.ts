import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import { defineStatement, type Storage } from '../../../shared/db/storage.js';
import { DAY_MS as DAY, HOUR_MS as HOUR } from '../../../shared/time.js';

/** The roll-up's hour key (`YYYY-MM-DDTHH`) of an instant. */
const hourKey = (ms: number) => toIso(ms).slice(0, 13);
import { counted } from './timeseries.js';

/** Reports in the last 24 h from which an emerging IoC counts as `rapid`. */
export const RAPID_SIGHTINGS = 10;
const EMERGING_LIMIT = 10;
/** The busiest IoCs of the day looked up one by one before levels are filled another way. */
const TOP_GROUPS = 2000;
/** Recent IoCs probed for the members of one busy level before every reported IoC is looked up. */
export const MEMBER_WALK = 5000;

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

type Window = { after: string; before: string };
type Day = { dayAgo: string; now: string };
type Fact = { value: string; type: string; first_seen: string };

// The last day's reports per IoC, read from the (created_at, ioc_id) index alone (INDEXED BY:
// with statistics the planner prefers walking the whole (ioc_id, created_at) index).
const DAY_GROUPS = `SELECT ioc_id, count(*) AS n FROM sightings INDEXED BY sightings_created_ioc
    WHERE created_at > @dayAgo AND created_at <= @now GROUP BY ioc_id`;

/** The trends' reads through the storage port. */
export const TRENDS_READS = {
  // Whole hours come from the hourly roll-up (migration 6); only the parts of the hours the
  // window's edges cut through are counted from the reports themselves, so the totals are
  // exact at millisecond edges while reading only two partial hours of reports per window.
  wholeHours: defineStatement<Window, { category: string; n: number }>(
    `SELECT category, sum(sightings) AS n FROM intel_hourly
     WHERE hour > @after AND hour < @before AND category <> '' GROUP BY category`,
  ),
  partOfHour: defineStatement<Window, { category: string; n: number }>(
    `SELECT i.category AS category, count(*) AS n
     FROM sightings s JOIN iocs i ON i.id = s.ioc_id
     WHERE s.created_at > @after AND s.created_at < @before AND i.category IS NOT NULL AND ${counted('i.')}
     GROUP BY i.category`,
  ),
  busiestGroups: defineStatement<Day, { ioc_id: string; n: number }>(
    `SELECT ioc_id, n FROM (${DAY_GROUPS}) AS day_groups ORDER BY n DESC LIMIT ${TOP_GROUPS}`,
  ),
  factsOf: defineStatement<[string, string], Fact>(
    `SELECT value, type, first_seen FROM iocs INDEXED BY iocs_id_analytics WHERE id = ? AND first_seen > ? AND +status = 'active'`,
  ),
  // The exhaustive answer, for a day whose busy IoCs are mostly old: every reported IoC looked up.
  busiestNew: defineStatement<Day & { since: string; limit: number }, Fact & { n: number }>(
    `SELECT i.value, i.type, i.first_seen, r.n FROM (${DAY_GROUPS}) r CROSS JOIN iocs i INDEXED BY iocs_id_analytics ON i.id = r.ioc_id
     WHERE i.first_seen > @since AND +i.status = 'active'
     ORDER BY r.n DESC, i.first_seen DESC, i.value LIMIT @limit`,
  ),
  newest: defineStatement<{ since: string; limit: number }, Fact>(
    `SELECT value, type, first_seen FROM iocs WHERE first_seen > @since AND +status = 'active' ORDER BY first_seen DESC, value LIMIT @limit`,
  ),
  // Newest first, for the members of one busy level (see membersOfLevel): ties by first report
  // in the order of the index, which ends with the rowid (PostgreSQL says it, its order is otherwise free).
  newestWithId: defineStatement<{ since: string; now: string; limit: number }, { id: string } & Fact>({
    sqlite: `SELECT id, value, type, first_seen FROM iocs INDEXED BY iocs_first_seen
     WHERE first_seen > @since AND first_seen <= @now AND +status = 'active' ORDER BY first_seen DESC LIMIT @limit`,
    postgres: `SELECT id, value, type, first_seen FROM iocs
     WHERE first_seen > @since AND first_seen <= @now AND status = 'active' ORDER BY first_seen DESC, rowid DESC LIMIT @limit`,
  }),
  // One IoC's reports of the day, on the (ioc_id, created_at) index.
  reportsOfDay: defineStatement<{ id: string; dayAgo: string; now: string }, { n: number }>(
    `SELECT count(*) AS n FROM sightings INDEXED BY sightings_ioc WHERE ioc_id = @id AND created_at > @dayAgo AND created_at <= @now`,
  ),
};

/**
 * Recent IoCs read for the member walk before all MEMBER_WALK + 1 are: the walk ends after a
 * few rows on ordinary data, and reading five thousand rows it does not need would cost more
 * than the rest of the trends.
 */
export const FIRST_WALK_WINDOW = 100;

/** Category report rates of this period against the one before, and the fastest new IoCs. */
export function createTrendsQuery(storage: Storage, clock: Clock) {
  const q = TRENDS_READS;
  /** Reports per category with created_at in (fromMs, toMs]; both edges inside hours, at least an hour apart. */
  const reportsBetween = async (fromMs: number, toMs: number): Promise<Map<string, number>> => {
    const totals = new Map<string, number>();
    const add = (rows: Array<{ category: string; n: number }>) => {
      for (const row of rows) totals.set(row.category, (totals.get(row.category) ?? 0) + row.n);
    };
    const fromHourEnd = Math.floor(fromMs / HOUR) * HOUR + HOUR;
    const toHourStart = Math.floor(toMs / HOUR) * HOUR;
    add(await storage.all(q.partOfHour, { after: toIso(fromMs), before: toIso(fromHourEnd) }));
    add(await storage.all(q.wholeHours, { after: hourKey(fromMs), before: hourKey(toHourStart) }));
    add(await storage.all(q.partOfHour, { after: toIso(toHourStart - 1), before: toIso(toMs + 1) }));
    return totals;
  };
  type Emerging = { value: string; type: string; first_seen: string; n: number };
  const byBusiest = (a: Emerging, b: Emerging) =>
    b.n - a.n || (a.first_seen < b.first_seen ? 1 : a.first_seen > b.first_seen ? -1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0);

  /**
   * The members of the level `boundary` newest first, until enough with those already `chosen`
   * (and past the ones that tie with the last by first report); null when more than
   * MEMBER_WALK recent IoCs had to be walked. The recent IoCs are read in at most two bounded
   * windows of the same statement (FIRST_WALK_WINDOW, then MEMBER_WALK + 1 rows: the walk
   * never looks further), the second one continuing after the rows already walked.
   */
  async function membersOfLevel(p: { dayAgo: string; now: string; since: string }, boundary: number, chosen: number): Promise<Emerging[] | null> {
    const level: Emerging[] = [];
    let walked = 0;
    for (const limit of [Math.min(FIRST_WALK_WINDOW, MEMBER_WALK + 1), MEMBER_WALK + 1]) {
      const rows = await storage.all(q.newestWithId, { since: p.since, now: p.now, limit });
      for (const row of rows.slice(walked)) {
        walked += 1;
        const last = level.at(-1);
        // Enough members, and past the ones that tie with the last by first report.
        if (chosen + level.length >= EMERGING_LIMIT && last && row.first_seen !== last.first_seen) return level;
        if (walked > MEMBER_WALK) return null;
        if ((await storage.get(q.reportsOfDay, { id: row.id, ...p }))!.n === boundary) {
          level.push({ value: row.value, type: row.type, first_seen: row.first_seen, n: boundary });
        }
      }
      // Every recent IoC walked.
      if (rows.length < limit) return level;
    }
    return level;
  }

  /**
   * Up to EMERGING_LIMIT IoCs first seen after `since` with the most reports in the last day
   * (then newest, then by value), without looking up every IoC the day touched: the
   * TOP_GROUPS busiest are looked up; when those leave a level unfinished (a day where
   * thousands of IoCs have as many reports), its members are found newest first by probing
   * each recent IoC's reports, which ends after a few rows on ordinary data. Only a day whose
   * busiest level is mostly made of IoCs older than MEMBER_WALK recent ones falls back to
   * looking up every reported IoC.
   */
  async function busiestSince(p: { dayAgo: string; now: string; since: string }): Promise<Emerging[]> {
    const groups = await storage.all(q.busiestGroups, { dayAgo: p.dayAgo, now: p.now });
    const complete = groups.length < TOP_GROUPS;
    const boundary = complete ? 0 : groups.at(-1)!.n;
    const chosen: Emerging[] = [];
    for (const group of groups) {
      if (!complete && group.n <= boundary) break;
      const facts = await storage.get(q.factsOf, [group.ioc_id, p.since]);
      if (facts) chosen.push({ ...facts, n: group.n });
    }
    chosen.sort(byBusiest);
    if (complete || chosen.length >= EMERGING_LIMIT) return chosen.slice(0, EMERGING_LIMIT);
    const level = await membersOfLevel(p, boundary, chosen.length);
    // Too many walked, or every recent IoC walked and still too few (lower levels count too).
    if (level === null || chosen.length + level.length < EMERGING_LIMIT) return storage.all(q.busiestNew, { ...p, limit: EMERGING_LIMIT });
    return [...chosen, ...level.sort(byBusiest)].slice(0, EMERGING_LIMIT);
  }

  return async (query: { periodDays: number; minChange: number }): Promise<Trends> => {
    const now = clock.now();
    const period = query.periodDays * DAY;
    const window = { middle: toIso(now - period), now: toIso(now) };
    const current = await reportsBetween(now - period, now);
    const previous = await reportsBetween(now - 2 * period, now - period);
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
    const busy = await busiestSince({ dayAgo: toIso(now - DAY), now: window.now, since });
    const chosen = new Set(busy.map((row) => `${row.type}:${row.value}`));
    // Fewer than ten reported in the last day: the newest quiet ones complete the list.
    const quiet = busy.length < EMERGING_LIMIT
      ? (await storage.all(q.newest, { since, limit: 2 * EMERGING_LIMIT })).filter((row) => !chosen.has(`${row.type}:${row.value}`)).map((row) => ({ ...row, n: 0 }))
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
