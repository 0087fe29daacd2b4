import { defineStatement, type PerEngineSql, type Statement, type Storage } from '../../shared/db/storage.js';
import { COUNT_CAP } from '../../shared/capped-total.js';
import { toIoc, type Category, type Ioc, type IocRow, type IocStatus } from './iocs.js';
import type { IocType } from '../normalise.js';

export interface IocFilter {
  type?: IocType;
  source?: string;
  category?: Category;
  status?: IocStatus;
  minReputation?: number;
  maxReputation?: number;
  since?: string;
  q?: string;
}

/**
 * A `since` or `q` range this small is read whole (its rows looked up) and sorted: a few tens
 * of milliseconds at most.
 */
export const SMALL_SET = 5_000;
/** Reading a row costs about as much as walking this many index entries. */
const ROW_COST_IN_ENTRIES = 10;
/** Index entries one step of a long search walks (a few milliseconds); the event loop is free between steps. */
export const WALK_STEP = 50_000;

/** The list's order; every index the list walks ends with these columns, so no page is ever sorted. */
const ORDER = 'ORDER BY reputation, last_seen DESC, change_seq';

/**
 * Where a list is read from: the IoC table through one of its ranked indexes (migration 10:
 * no prefix, or type, category or status first, every other filter column inside), or the
 * per-source copy of the same order (`ioc_source_rank`). All of them cover every filter.
 */
type Driver = 'iocs_rank' | 'iocs_rank_type' | 'iocs_rank_category' | 'iocs_rank_status' | 'source';

const CONDITION: Record<'type' | 'category' | 'status' | 'since' | 'q', string> = {
  type: 'type = @type',
  category: 'category = @category',
  status: 'status = @status',
  since: 'updated_at > @since',
  q: 'value >= @q AND value < @qEnd',
};
const EQUALITY_KEYS = ['type', 'category', 'status'] as const;
const SEARCH_KEYS = ['since', 'q'] as const;
const REPUTATION_RANGE = 'reputation >= @lo AND reputation <= @hi';

interface Counts {
  /** Entries of the reputation range (of the source, with a source filter). */
  everything: number;
  ofType: number;
  ofCategory: number;
  ofStatus: number;
  /** Entries matching every equality filter and the reputation range: the exact total without since and q. */
  matching: number;
}

/** The smallest string greater than every string starting with `prefix`. */
function prefixEnd(prefix: string): string {
  const last = prefix.codePointAt(prefix.length - 1)!;
  const head = prefix.slice(0, prefix.length - (last > 0xffff ? 2 : 1));
  return head + String.fromCodePoint(Math.min(last + 1, 0x10ffff));
}

const used = (filter: IocFilter, keys: readonly (keyof IocFilter)[]) => keys.filter((key) => filter[key] !== undefined);

type ListParams = Record<string, unknown>;
const bare = (name: string) => name;
const quoted = (name: string) => `"${name}"`;

// PostgreSQL folds unquoted names to lower case: its text quotes the camel-case result names.
const countsSql = (table: string, scope: string, quote: (name: string) => string) =>
  `SELECT coalesce(sum(n), 0) AS everything,
       coalesce(sum(n) FILTER (WHERE type = @type), 0) AS ${quote('ofType')},
       coalesce(sum(n) FILTER (WHERE category = @category), 0) AS ${quote('ofCategory')},
       coalesce(sum(n) FILTER (WHERE status = @status), 0) AS ${quote('ofStatus')},
       coalesce(sum(n) FILTER (WHERE (@type IS NULL OR type = @type) AND (@category IS NULL OR category = @category)
         AND (@status IS NULL OR status = @status)), 0) AS matching
     FROM ${table} WHERE ${scope}reputation BETWEEN @lo AND @hi`;

/** The list's fixed statements through the storage port; the shapes that depend on the filter are composed below. */
export const IOC_LIST_READS = {
  iocCounts: defineStatement<ListParams, Counts>({ sqlite: countsSql('ioc_rank_counts', '', bare), postgres: countsSql('ioc_rank_counts', '', quoted) }),
  sourceCounts: defineStatement<ListParams, Counts>({
    sqlite: countsSql('ioc_source_counts', 'source = @source AND ', bare),
    postgres: countsSql('ioc_source_counts', 'source = @source AND ', quoted),
  }),
  // How many IoCs a since or q range holds, counted on its own index up to SMALL_SET.
  rangeSize: {
    q: defineStatement<ListParams, { n: number }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM iocs INDEXED BY iocs_value WHERE value >= @q AND value < @qEnd LIMIT @small) AS page`,
    ),
    since: defineStatement<ListParams, { n: number }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM iocs INDEXED BY iocs_updated_at WHERE updated_at > @since LIMIT @small) AS page`,
    ),
  },
  // The exact size of a since or q range alone (index entries only, ~10 ns each).
  rangeTotal: {
    q: defineStatement<ListParams, { n: number }>(`SELECT count(*) AS n FROM iocs INDEXED BY iocs_value WHERE value >= @q AND value < @qEnd`),
    since: defineStatement<ListParams, { n: number }>(`SELECT count(*) AS n FROM iocs INDEXED BY iocs_updated_at WHERE updated_at > @since`),
  },
  // A page's rows in one statement (on PostgreSQL a statement per row was 200 round trips: 391 ms for page 50 at a million IoCs).
  bySeqs: defineStatement<[seqs: string], IocRow>({
    sqlite: `SELECT i.* FROM json_each(?) AS k CROSS JOIN iocs i ON i.change_seq = k.value`,
    postgres: `SELECT i.* FROM iocs i WHERE i.change_seq = ANY(ARRAY(SELECT CAST(json_array_elements_text(CAST(? AS json)) AS bigint)))`,
  }),
  byKey: defineStatement<[type: string, value: string], IocRow>(`SELECT * FROM iocs WHERE type = ? AND value = ?`),
};

/**
 * Statements composed per filter shape and driver, by a key that determines their text:
 * declared the first time a shape is used, the same object after, for the life of the process.
 */
const composed = new Map<string, Statement<ListParams, unknown>>();
function composedStatement<Row>(key: string, sql: () => string | PerEngineSql): Statement<ListParams, Row> {
  let statement = composed.get(key);
  if (!statement) {
    statement = defineStatement<ListParams, unknown>(sql());
    composed.set(key, statement);
  }
  return statement as Statement<ListParams, Row>;
}

/**
 * The filtered, ordered IoC list (GET /api/iocs) at the cost of its first page whatever the
 * size of the table (a slow list would stall all three services):
 *
 * - totals of type, category, status, source and reputation filters come from trigger-kept
 *   counts (exact), and so does the size of each index prefix, so the list walks the
 *   smallest one, in order, from the index alone, and stops after offset + limit entries;
 * - `since` and `q` are ranges of other columns: when either range is small (and much
 *   smaller than that prefix) its rows are read and sorted; otherwise the prefix is walked in
 *   steps of WALK_STEP entries with the event loop free in between, until the page is found
 *   and COUNT_CAP matches are counted (or the prefix ends). Those totals are exact below
 *   COUNT_CAP; 10,000 means "10,000 or more".
 *
 * Statements are prepared the first time a shape is used and kept for the life of the app.
 */
export function createIocList(storage: Storage, options: { smallSet?: number; walkStep?: number } = {}) {
  const smallSet = options.smallSet ?? SMALL_SET;
  const walkStep = options.walkStep ?? WALK_STEP;
  const q = IOC_LIST_READS;

  const from = (driver: Driver) => (driver === 'source' ? 'ioc_source_rank' : `iocs INDEXED BY ${driver}`);
  /** What the driver's index starts with: the equality that makes it a search. */
  const prefixCondition = (driver: Driver): string[] =>
    ({ iocs_rank: [], iocs_rank_type: [CONDITION.type], iocs_rank_category: [CONDITION.category], iocs_rank_status: [CONDITION.status], source: ['source = @source'] })[driver];
  /** Every filter as SQL over the driver's own columns (the IoC table and the source copy name them alike). */
  const conditions = (filter: IocFilter, driver: Driver, keys: readonly (keyof typeof CONDITION)[]) => [
    ...new Set([...prefixCondition(driver), ...used(filter, keys).map((key) => CONDITION[key as keyof typeof CONDITION])]),
  ];
  const signature = (filter: IocFilter) => used(filter, [...EQUALITY_KEYS, ...SEARCH_KEYS]).join(',');

  /** One page of positions, in order, from an index alone (no since or q). */
  const pageStatement = (filter: IocFilter, driver: Driver) =>
    composedStatement<{ change_seq: number }>(`page|${driver}|${signature(filter)}`, () => {
      const where = [...conditions(filter, driver, EQUALITY_KEYS), REPUTATION_RANGE].join(' AND ');
      return `SELECT change_seq FROM ${from(driver)} WHERE ${where} ${ORDER} LIMIT @limit OFFSET @offset`;
    });

  /** Every match's position from a since or q range of fewer than SMALL_SET IoCs, sorted. */
  const rangeStatement = (filter: IocFilter, range: 'since' | 'q') =>
    composedStatement<{ change_seq: number }>(`range|${range}|${signature(filter)}|${filter.source !== undefined}`, () => {
      const where = [
        CONDITION[range],
        ...used(filter, [...EQUALITY_KEYS, ...SEARCH_KEYS]).filter((key) => key !== range).map((key) => CONDITION[key as keyof typeof CONDITION]),
        REPUTATION_RANGE,
        ...(filter.source !== undefined ? ['EXISTS (SELECT 1 FROM ioc_sources s WHERE s.source = @source AND s.ioc_id = iocs.id)'] : []),
      ].join(' AND ');
      return `SELECT change_seq FROM iocs INDEXED BY ${range === 'q' ? 'iocs_value' : 'iocs_updated_at'} WHERE ${where} ${ORDER}`;
    });

  const position = {
    first: 'reputation >= @lo AND reputation <= @hi',
    same: 'reputation = @reputation AND last_seen <= @lastSeen AND (last_seen < @lastSeen OR change_seq > @seq)',
    next: 'reputation > @reputation AND reputation <= @hi',
  };
  type Part = keyof typeof position;
  /**
   * One step of a long search over the covering driver: among the next @step entries from a
   * position, the keys ("type value") of the matches, or only their number once the page is
   * behind. `first` starts the range, `same` continues within one reputation after (last
   * seen, change position), `next` starts the following reputations. Only matches leave
   * SQLite: handing every walked entry to JavaScript would cost twenty times the walk.
   */
  const stepStatement = (filter: IocFilter, driver: Driver, part: Part, output: 'keys' | 'count') =>
    composedStatement<{ hit: string } | { n: number }>(`step|${output}|${part}|${driver}|${signature(filter)}`, () => {
      const match = conditions(filter, 'iocs_rank', [...EQUALITY_KEYS, ...SEARCH_KEYS]).join(' AND ');
      const where = [...prefixCondition(driver), position[part]].join(' AND ');
      const hit = output === 'keys' ? `type || ' ' || value` : '1';
      return `SELECT ${output === 'keys' ? 'hit' : 'count(*) AS n'} FROM (
        SELECT CASE WHEN ${match} THEN ${hit} END AS hit FROM ${from(driver)} WHERE ${where} ${ORDER} LIMIT @step
      ) AS walked WHERE hit IS NOT NULL`;
    });
  /** Where the step ends: its last entry, or none when fewer entries were left. */
  const stepEndStatement = (driver: Driver, part: Part) =>
    composedStatement<{ reputation: number; lastSeen: string; seq: number }>(`end|${part}|${driver}`, () => {
      const where = [...prefixCondition(driver), position[part]].join(' AND ');
      const sql = (lastSeen: string, table: string) =>
        `SELECT reputation, last_seen AS ${lastSeen}, change_seq AS seq FROM ${table} WHERE ${where} ${ORDER} LIMIT 1 OFFSET @step - 1`;
      // A text of its own on PostgreSQL carries no SQLite planner hint.
      return { sqlite: sql(bare('lastSeen'), from(driver)), postgres: sql(quoted('lastSeen'), driver === 'source' ? 'ioc_source_rank' : 'iocs') };
    });

  /** The index to walk: the one whose equality prefix holds the fewest entries. */
  function smallestPrefix(filter: IocFilter, counts: Counts): { driver: Driver; size: number } {
    if (filter.source !== undefined) return { driver: 'source', size: counts.everything };
    let best: { driver: Driver; size: number } = { driver: 'iocs_rank', size: counts.everything };
    const options: Array<[Driver, number, boolean]> = [
      ['iocs_rank_type', counts.ofType, filter.type !== undefined],
      ['iocs_rank_category', counts.ofCategory, filter.category !== undefined],
      ['iocs_rank_status', counts.ofStatus, filter.status !== undefined],
    ];
    for (const [driver, size, applies] of options) if (applies && size < best.size) best = { driver, size };
    return best;
  }

  /** The rows of a page's positions, in the order given; a position changed meanwhile is left out. */
  async function rowsBySeq(seqs: readonly number[]): Promise<Ioc[]> {
    if (seqs.length === 0) return [];
    const rows = new Map((await storage.all(q.bySeqs, [JSON.stringify(seqs)])).map((row) => [row.change_seq, row]));
    return seqs.flatMap((seq) => {
      const row = rows.get(seq);
      return row === undefined ? [] : [toIoc(row)];
    });
  }

  /**
   * Walks the driver step by step (each twice as long as the one before, up to walkStep)
   * until the page is found and, when `counting`, COUNT_CAP + 1 matches are counted or the
   * driver ends; resolves with the page's keys and the number of matches seen (capped).
   */
  async function walk(filter: IocFilter, driver: Driver, params: Record<string, unknown>, offset: number, limit: number, counting: boolean) {
    const enough = counting ? Math.max(offset + limit, COUNT_CAP + 1) : offset + limit;
    const keys: string[] = [];
    let found = 0;
    let part: Part = 'first';
    let step = Math.min(walkStep, Math.max(1000, 2 * (offset + limit)));
    let at = { reputation: params.lo as number, lastSeen: '', seq: 0 };
    for (;;) {
      const where = { ...params, ...at, step };
      if (found < offset + limit) {
        for (const { hit } of (await storage.all(stepStatement(filter, driver, part, 'keys'), where)) as Array<{ hit: string }>) {
          if (found >= offset && found < offset + limit) keys.push(hit);
          found += 1;
        }
      } else {
        found += ((await storage.get(stepStatement(filter, driver, part, 'count'), where)) as { n: number }).n;
      }
      if (found >= enough) return { keys, total: Math.min(found, COUNT_CAP) };
      const end = await storage.get(stepEndStatement(driver, part), where);
      if (end) {
        at = end;
        part = 'same';
      } else if (part === 'same') {
        // That reputation is done; the walk goes on with the next ones.
        part = 'next';
      } else {
        return { keys, total: found };
      }
      step = Math.min(walkStep, step * 2);
      await new Promise((resolve) => setImmediate(resolve));
      if (!storage.open) throw new Error('database closed during an IoC search');
    }
  }

  return {
    async list(filter: IocFilter, page: number, limit: number): Promise<{ items: Ioc[]; total: number }> {
      const offset = (page - 1) * limit;
      const params: Record<string, unknown> = {
        type: filter.type ?? null,
        category: filter.category ?? null,
        status: filter.status ?? null,
        source: filter.source ?? null,
        lo: filter.minReputation ?? 0,
        hi: filter.maxReputation ?? 100,
        since: filter.since ?? null,
        q: filter.q ?? null,
        qEnd: filter.q !== undefined ? prefixEnd(filter.q) : null,
      };
      const counts = (await storage.get(filter.source !== undefined ? q.sourceCounts : q.iocCounts, params))!;
      const prefix = smallestPrefix(filter, counts);
      const searches = used(filter, SEARCH_KEYS) as Array<'since' | 'q'>;

      if (searches.length === 0) {
        if (offset >= counts.matching) return { items: [], total: counts.matching };
        const seqs = (await storage.all(pageStatement(filter, prefix.driver), { ...params, limit, offset })).map((row) => row.change_seq);
        return { items: await rowsBySeq(seqs), total: counts.matching };
      }
      if (counts.matching === 0) return { items: [], total: 0 };
      const ranges: Array<{ range: 'since' | 'q'; size: number }> = [];
      for (const range of searches) ranges.push({ range, size: (await storage.get(q.rangeSize[range], { ...params, small: smallSet }))!.n });
      ranges.sort((a, b) => a.size - b.size);
      const smallest = ranges[0]!;
      if (smallest.size < smallSet && smallest.size * ROW_COST_IN_ENTRIES < prefix.size) {
        const seqs = (await storage.all(rangeStatement(filter, smallest.range), params)).map((row) => row.change_seq);
        return { items: await rowsBySeq(seqs.slice(offset, offset + limit)), total: seqs.length };
      }

      // A since or q range alone: its own index counts it exactly, the walk only finds the page.
      const alone = searches.length === 1 && used(filter, ['type', 'category', 'status', 'source', 'minReputation', 'maxReputation']).length === 0;
      const walked = await walk(filter, prefix.driver, params, offset, limit, !alone);
      const keys = walked.keys;
      const total = alone ? (await storage.get(q.rangeTotal[searches[0]!], params))!.n : walked.total;
      const items: Ioc[] = [];
      for (const key of keys) {
        const space = key.indexOf(' ');
        const row = await storage.get(q.byKey, [key.slice(0, space), key.slice(space + 1)]);
        if (row !== undefined) items.push(toIoc(row));
      }
      return { items, total };
    },
  };
}
export type IocList = ReturnType<typeof createIocList>;
