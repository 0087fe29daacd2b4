import type { Db } from '../../shared/db/open.js';
import { defineStatement, type Queryable, type Transaction, type Storage } from '../../shared/db/storage.js';
import { createThreatBucketStore, rebuildThreatBuckets } from './threat-buckets.js';
import {
  ALL_ORGS,
  compareStarts,
  FOREVER,
  isCounted,
  targetStart,
  WINDOW_NAMES,
  WINDOW_SPANS,
  type CountKind,
  type WindowName,
  type WindowStart,
} from './threat-windows.js';

/** The columns of a threat event its counts are made of. */
export interface CountedEvent {
  seq: number;
  timestamp_ms: number;
  org_id: string;
  agent_id: string;
  hostname: string;
  severity: string;
  type: string;
  source_ip: string | null;
}

type Delta = {
  win: WindowName;
  kind: CountKind;
  scope: string;
  key: string;
  label: string | null;
  n: number;
};

export interface RankedCount {
  key: string;
  n: number;
  label: string | null;
}

/** SQL's BINARY order of keys (UTF-8 bytes), which the count indexes sort ties by. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** The keys an event is counted under in a window: its severity, type, agent and (not in `all`) source address. */
function keysOf(win: WindowName, event: CountedEvent): Array<[CountKind, string, string | null]> {
  const keys: Array<[CountKind, string, string | null]> = [
    ['severity', event.severity, null],
    ['type', event.type, null],
    ['agent', event.agent_id, event.hostname],
  ];
  if (win !== 'all' && event.source_ip !== null) keys.push(['ip', event.source_ip, null]);
  return keys;
}

/** Adds an event's rows of one window (sign +1 counts it, −1 takes it out) to a batch of deltas. */
function collect(deltas: Map<string, Delta>, win: WindowName, event: CountedEvent, sign: number): void {
  for (const [kind, key, label] of keysOf(win, event)) {
    for (const scope of [event.org_id, ALL_ORGS]) {
      const id = `${win}\u0000${kind}\u0000${scope}\u0000${key}`;
      const delta = deltas.get(id);
      if (delta) delta.n += sign;
      else deltas.set(id, { win, kind, scope, key, label, n: sign });
    }
  }
}

const EVENT_COLUMNS = 'seq, timestamp_ms, org_id, agent_id, hostname, severity, type, source_ip';

type Range = { fromMs: number; fromSeq: number; toMs: number; toSeq: number; counted: number };
type Only = { orgId?: string; agentId?: string };

const START_ROWS = defineStatement<void, { name: WindowName; start_ms: number; start_seq: number }>('SELECT name, start_ms, start_seq FROM threat_windows');
const SET_START = defineStatement<[ms: number, seq: number, name: string]>('UPDATE threat_windows SET start_ms = ?, start_seq = ? WHERE name = ?');
const COUNTED_SEQ = defineStatement<void, { seq: number }>('SELECT seq FROM threat_counted');
const SET_COUNTED_SEQ = defineStatement<[seq: number]>('UPDATE threat_counted SET seq = ?');
const LATEST_SEQ = defineStatement<void, { seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM threat_events');
const ADD = defineStatement<Delta>(`
    INSERT INTO threat_counts (win, kind, scope, key, n, label) VALUES (@win, @kind, @scope, @key, @n, @label)
    ON CONFLICT (win, kind, scope, key) DO UPDATE SET n = threat_counts.n + excluded.n, label = coalesce(excluded.label, threat_counts.label)`);
type RowKey = { win: string; kind: string; scope: string; key: string };
const DROP_IF_EMPTY = defineStatement<RowKey>('DELETE FROM threat_counts WHERE win = @win AND kind = @kind AND scope = @scope AND key = @key AND n <= 0');
const ROW_OF = defineStatement<RowKey, RankedCount>(
  'SELECT key, n, label FROM threat_counts WHERE win = @win AND kind = @kind AND scope = @scope AND key = @key',
);
const RANKED = defineStatement<{ win: string; kind: string; scope: string; limit: number }, RankedCount>(
  'SELECT key, n, label FROM threat_counts INDEXED BY threat_counts_ranked WHERE win = @win AND kind = @kind AND scope = @scope ORDER BY n DESC, key LIMIT @limit',
);

// New events in storage order, and the counted events between two window starts: ascending
// to take out of a window, descending to put back.
const NEW_EVENTS = defineStatement<{ after: number; limit: number }, CountedEvent>(
  `SELECT ${EVENT_COLUMNS} FROM threat_events WHERE seq > @after ORDER BY seq LIMIT @limit`,
);
const RANGE = `(timestamp_ms, seq) >= (@fromMs, @fromSeq) AND (timestamp_ms, seq) < (@toMs, @toSeq) AND seq <= @counted`;
const LEAVING = defineStatement<Range & { limit: number }, CountedEvent>(
  `SELECT ${EVENT_COLUMNS} FROM threat_events WHERE ${RANGE} ORDER BY timestamp_ms, seq LIMIT @limit`,
);
const RETURNING = defineStatement<Range & { limit: number }, CountedEvent>(
  `SELECT ${EVENT_COLUMNS} FROM threat_events WHERE ${RANGE} ORDER BY timestamp_ms DESC, seq DESC LIMIT @limit`,
);
// What a read corrects by: counted events between the stored start and its own, and the
// events not counted yet that fall in its window; over every org, one org or one agent.
const correctionsOf = (where: string) => ({
  between: defineStatement<Range & Only, CountedEvent>(`SELECT ${EVENT_COLUMNS} FROM threat_events WHERE ${where} ${RANGE}`),
  // Found by sequence number alone (`+` keeps the other terms off their indexes).
  uncounted: defineStatement<{ counted: number; sinceMs: number } & Only, CountedEvent>(
    `SELECT ${EVENT_COLUMNS} FROM threat_events WHERE ${where.replace(/^(\w+)/, '+$1')} seq > @counted AND +timestamp_ms >= @sinceMs`,
  ),
});
const CORRECTIONS = { all: correctionsOf(''), org: correctionsOf('org_id = @orgId AND'), agent: correctionsOf('agent_id = @agentId AND') };

const ORG_ROWS = `win IN (${WINDOW_NAMES.map((w) => `'${w}'`).join(', ')}) AND kind IN ('severity', 'type', 'agent', 'ip') AND scope = @orgId`;
const SUBTRACT_ORG = defineStatement<{ orgId: string }>(`
    UPDATE threat_counts AS g SET n = g.n - o.n
    FROM (SELECT win, kind, key, n FROM threat_counts WHERE ${ORG_ROWS}) AS o
    WHERE g.win = o.win AND g.kind = o.kind AND g.scope = '' AND g.key = o.key`);
const DROP_ORG_GLOBALS = defineStatement<{ orgId: string }>(`
    DELETE FROM threat_counts WHERE scope = '' AND n <= 0
      AND (win, kind, key) IN (SELECT win, kind, key FROM threat_counts WHERE ${ORG_ROWS})`);
const DROP_ORG = defineStatement<{ orgId: string }>(`DELETE FROM threat_counts WHERE ${ORG_ROWS}`);

/** The lock of every transaction that reads then moves the counted mark or a window's start. */
export const THREAT_COUNTS_LOCK = 'manager:threat-counts';

/**
 * Threat event counts per window (each summary period and `all`), kind (severity, type,
 * agent, source IP) and scope (an org, or every org), so summaries, the overview, an agent's
 * recent threats and list totals read a few rows instead of counting up to a million events.
 *
 * A window's rows count the events up to the counted sequence number that are at or after
 * the window's start in `(timestamp_ms, seq)` order. Ingestion only stores events: the
 * Manager's sweeper counts new ones in the background (each step one transaction of grouped
 * updates: counting inside every batch's transaction made a one-event batch ten times
 * slower) and moves each window's start to `now − span`, taking out the events that left.
 * A read is exact at any moment: the events stored since the last count and those between a
 * window's stored start and the read's own `now − span` (a second's or a sweep's worth while
 * the sweeper keeps up) are taken from the events themselves and applied on top.
 */
export function createThreatCountStore(storage: Storage) {
  const buckets = createThreatBucketStore(storage);

  const starts = async (q: Queryable): Promise<Map<WindowName, WindowStart>> =>
    new Map((await q.all(START_ROWS)).map((row) => [row.name, { ms: row.start_ms, seq: row.start_seq }]));
  const countedSeq = async (q: Queryable) => (await q.get(COUNTED_SEQ))!.seq;

  // All deltas in one batch (one round trip on PostgreSQL: counting new events touches hundreds
  // of rows); then a row that counts nothing any more goes (an address seen once, a month ago),
  // which only a negative delta can cause.
  const apply = async (tx: Transaction, deltas: Map<string, Delta>) => {
    const changed = [...deltas.values()].filter((delta) => delta.n !== 0);
    await tx.runBatch(ADD, changed);
    for (const delta of changed) {
      if (delta.n < 0) await tx.run(DROP_IF_EMPTY, { win: delta.win, kind: delta.kind, scope: delta.scope, key: delta.key });
    }
  };

  /**
   * A window as it is for a read at `sinceMs` (`all`: any), over every org, one org or one
   * agent: the stored rows and, on top, the corrections described above. Exact when every read
   * of it (and of its count and top) sees one state: pass the Queryable of a
   * `storage.snapshot` (the sweeper commits meanwhile on PostgreSQL).
   */
  async function view(win: WindowName, sinceMs: number, only: Only = {}, q: Queryable = storage) {
    const counted = await countedSeq(q);
    const stored = (await starts(q)).get(win) ?? FOREVER;
    const target = win === 'all' ? FOREVER : { ms: sinceMs, seq: 0 };
    const order = compareStarts(target, stored);
    const [from, to] = order > 0 ? [stored, target] : [target, stored];
    const filter = only.agentId !== undefined ? CORRECTIONS.agent : only.orgId !== undefined ? CORRECTIONS.org : CORRECTIONS.all;
    const params = { ...only, counted };
    const deltas = new Map<CountKind, Map<string, RankedCount>>();
    const note = (events: CountedEvent[], sign: number) => {
      for (const event of events) {
        for (const [kind, key, label] of keysOf(win, event)) {
          const byKey = deltas.get(kind) ?? new Map<string, RankedCount>();
          deltas.set(kind, byKey);
          const entry = byKey.get(key);
          if (entry) entry.n += sign;
          else byKey.set(key, { key, n: sign, label });
        }
      }
    };
    if (order !== 0) note(await q.all(filter.between, { ...params, fromMs: from.ms, fromSeq: from.seq, toMs: to.ms, toSeq: to.seq }), order > 0 ? -1 : 1);
    note(await q.all(filter.uncounted, { ...params, sinceMs: target.ms }), 1);
    const scope = only.orgId ?? ALL_ORGS;
    const storedRow = (kind: CountKind, key: string) => q.get(ROW_OF, { win, kind, scope, key });

    return {
      /** The count of one key, exact. */
      async count(kind: CountKind, key: string): Promise<number> {
        return ((await storedRow(kind, key))?.n ?? 0) + (deltas.get(kind)?.get(key)?.n ?? 0);
      },
      /**
       * The `limit` largest counts, ties by key, exact: a row the corrections lower may drop out
       * of the stored ranking, so that many more are read; rows they raise are read as well.
       */
      async top(kind: CountKind, limit: number): Promise<RankedCount[]> {
        const fixes = [...(deltas.get(kind)?.values() ?? [])].filter((fix) => fix.n !== 0);
        const lowered = fixes.filter((fix) => fix.n < 0).length;
        const merged = new Map<string, RankedCount>();
        for (const row of await q.all(RANKED, { win, kind, scope, limit: limit + lowered })) merged.set(row.key, { ...row });
        for (const fix of fixes) {
          let entry = merged.get(fix.key);
          if (!entry) {
            const row = await storedRow(kind, fix.key);
            entry = { key: fix.key, n: row?.n ?? 0, label: row?.label ?? fix.label };
            merged.set(fix.key, entry);
          }
          entry.n += fix.n;
          entry.label ??= fix.label;
        }
        return [...merged.values()]
          .filter((entry) => entry.n > 0)
          .sort((a, b) => b.n - a.n || byBytes(a.key, b.key))
          .slice(0, limit);
      },
    };
  }

  return {
    view,
    /** Whether events were stored since the last count. */
    hasUncounted: async () => (await storage.get(LATEST_SEQ))!.seq > (await countedSeq(storage)),
    /**
     * One step of counting new events: at most `maxEvents`, in each window they fall in, as
     * grouped updates. Returns the events counted; 0 when every stored event is counted.
     */
    countNew: (maxEvents: number): Promise<number> =>
      storage.transaction({ durable: false, locks: [THREAT_COUNTS_LOCK] }, async (tx) => {
        const events = await tx.all(NEW_EVENTS, { after: await countedSeq(tx), limit: maxEvents });
        if (events.length === 0) return 0;
        const deltas = new Map<string, Delta>();
        for (const [win, start] of await starts(tx)) {
          for (const event of events) if (isCounted(event.timestamp_ms, event.seq, start)) collect(deltas, win, event, 1);
        }
        await apply(tx, deltas);
        await tx.run(SET_COUNTED_SEQ, [events.at(-1)!.seq]);
        return events.length;
      }),
    /**
     * One step of moving a window's start towards `now − span`: at most `maxEvents` counted
     * events taken out (or put back when the clock went back). Returns the events moved, at
     * least 1 while the start moved; 0 when the window is where it should be.
     */
    advance: (win: WindowName, now: number, maxEvents: number): Promise<number> =>
      storage.transaction({ durable: false, locks: [THREAT_COUNTS_LOCK] }, async (tx) => {
        const stored = (await starts(tx)).get(win);
        if (!stored || WINDOW_SPANS[win] === null) return 0;
        const target = targetStart(win, now);
        const order = compareStarts(target, stored);
        if (order === 0) return 0;
        const forward = order > 0;
        const [from, to] = forward ? [stored, target] : [target, stored];
        const bounds = { fromMs: from.ms, fromSeq: from.seq, toMs: to.ms, toSeq: to.seq, counted: await countedSeq(tx), limit: maxEvents };
        const events = await tx.all(forward ? LEAVING : RETURNING, bounds);
        const deltas = new Map<string, Delta>();
        for (const event of events) collect(deltas, win, event, forward ? -1 : 1);
        await apply(tx, deltas);
        const last = events.at(-1);
        const next = events.length < maxEvents || !last ? target : forward ? { ms: last.timestamp_ms, seq: last.seq + 1 } : { ms: last.timestamp_ms, seq: last.seq };
        await tx.run(SET_START, [next.ms, next.seq, win]);
        return Math.max(events.length, 1);
      }),
    /**
     * After an org's events are deleted (account deletion, same transaction, which takes
     * THREAT_COUNTS_LOCK): its rows go and the all-org rows lose them; so do its time buckets
     * (threat-buckets.ts). Sequence numbers of deleted events are used again (SQLite reuses
     * the largest rowids), so the counted mark comes back to the newest event left.
     */
    async forgetOrg(tx: Transaction, orgId: string): Promise<void> {
      await buckets.forgetOrg(tx, orgId);
      await tx.run(SUBTRACT_ORG, { orgId });
      await tx.run(DROP_ORG_GLOBALS, { orgId });
      await tx.run(DROP_ORG, { orgId });
      await tx.run(SET_COUNTED_SEQ, [Math.min(await countedSeq(tx), (await tx.get(LATEST_SEQ))!.seq)]);
    },
  };
}

export type ThreatCountStore = ReturnType<typeof createThreatCountStore>;
/** One window's counts as a read sees them (`view`): exact counts and top keys. */
export type ThreatCountView = Awaited<ReturnType<ThreatCountStore['view']>>;

/**
 * Recounts every window from the events, with each window starting at `now − span` and
 * every stored event counted: fills the tables when the migration creates them, and after a
 * bulk load. Windows nest, so each event is grouped once by the smallest window holding it
 * ("level") and a window sums the levels up to its own.
 */
export function rebuildThreatCounts(db: Db, now: number): void {
  const levels = WINDOW_NAMES.filter((name) => name !== 'all').sort((a, b) => WINDOW_SPANS[a]! - WINDOW_SPANS[b]!);
  const bounds = levels.map((name) => targetStart(name, now).ms);
  const levelOf = `CASE ${bounds.map((bound, i) => `WHEN timestamp_ms >= ${bound} THEN ${i}`).join(' ')} ELSE ${levels.length} END`;
  const windows = [...levels.map((name, i) => `('${name}', ${i})`), `('all', ${levels.length})`].join(', ');
  db.exec('DELETE FROM threat_counts; DELETE FROM threat_windows; DELETE FROM threat_counted;');
  db.exec(`INSERT INTO threat_counted (seq) SELECT coalesce(max(seq), 0) FROM threat_events`);
  const setWindow = db.prepare<[string, number, number]>('INSERT INTO threat_windows (name, start_ms, start_seq) VALUES (?, ?, ?)');
  for (const name of WINDOW_NAMES) {
    const start = targetStart(name, now);
    setWindow.run(name, start.ms, start.seq);
  }
  // Per kind: group the events by level, org and key, then expand to windows and scopes.
  const fill = (kind: CountKind, key: string, from: string, where = '') =>
    db.exec(`
      WITH w(name, level) AS (VALUES ${windows}),
      g AS MATERIALIZED (SELECT ${levelOf} AS level, org_id, ${key} AS key, count(*) AS n FROM ${from} ${where} GROUP BY 1, 2, 3),
      labels AS MATERIALIZED (SELECT key, ${kind === 'agent' ? '(SELECT hostname FROM threat_events e WHERE e.agent_id = k.key LIMIT 1)' : 'NULL'} AS label
                 FROM (SELECT DISTINCT key FROM g) k)
      INSERT INTO threat_counts (win, kind, scope, key, n, label)
      SELECT w.name, '${kind}', CASE WHEN s.everyOrg THEN '' ELSE g.org_id END AS scope, g.key, sum(g.n), min(labels.label)
      FROM g JOIN w ON g.level <= w.level ${kind === 'ip' ? "AND w.name <> 'all'" : ''}
      JOIN (SELECT 0 AS everyOrg UNION ALL SELECT 1) s
      JOIN labels ON labels.key = g.key
      GROUP BY w.name, scope, g.key`);
  // Severity, type and agent from covering indexes; source IPs (in no index) from the rows of the longest window.
  fill('severity', 'severity', 'threat_events INDEXED BY threat_events_org_time');
  fill('type', 'type', 'threat_events INDEXED BY threat_events_org_time');
  fill('agent', 'agent_id', 'threat_events INDEXED BY threat_events_agent_time');
  fill('ip', 'source_ip', 'threat_events', `WHERE source_ip IS NOT NULL AND timestamp_ms >= ${bounds.at(-1)}`);
  // The time buckets too, from migration 14 on (migration 11 runs this before they exist).
  if (db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'threat_buckets'`).get()) rebuildThreatBuckets(db, now);
}
