import { defineStatement, type Queryable, type Statement, type Storage } from '../../shared/db/storage.js';
import { DAY_MS } from '../../shared/time.js';
import { DEFAULT_THRESHOLD, REPUTATION_SQL, REPUTATION_SQL_POSTGRES } from '../reputation.js';

/** A rowid range of one refresh step and the instant it refreshes to. */
export type RefreshRange = {
  lo: number;
  hi: number;
  nowMs: number;
  nowIso: string;
  /** `last_seen` before this: expired. */
  cutoff: string;
};

/** REPUTATION_SQL reads the present as a Julian day. */
export const julianDay = (epochMs: number) => epochMs / DAY_MS + 2440587.5;

/**
 * What every scoring statement takes: a rowid range and the present as a Julian day (`:now`).
 * A type alias, as the port's parameters must be assignable to a record, which an interface is not.
 */
export type ScoreParams = {
  lo: number;
  hi: number;
  now: number;
};

/*
 * The statements that score rows, one text per engine: PostgreSQL has no scalar min/max nor
 * julianday and rounds differently (REPUTATION_SQL_POSTGRES), and SQLite's unary `+` hints
 * (which keep it on the rowid range instead of a status index that would scan the whole
 * table for every step) mean nothing to PostgreSQL's planner.
 */

/** Active IoCs whose decayed score crosses the default threshold: new score and change-sequence positions from `base` on. */
export const CROSS_THRESHOLD = defineStatement<ScoreParams & { nowIso: string; base: number }>({
  sqlite: `UPDATE iocs SET reputation = r.score, updated_at = @nowIso, change_seq = @base + r.rn
     FROM (SELECT rid, score, row_number() OVER (ORDER BY rid) AS rn FROM (
             SELECT rowid AS rid, reputation AS old, ${REPUTATION_SQL} AS score FROM iocs
             WHERE rowid BETWEEN @lo AND @hi AND +status = 'active') AS scored
           WHERE (old <= ${DEFAULT_THRESHOLD}) <> (score <= ${DEFAULT_THRESHOLD})) AS r
     WHERE iocs.rowid BETWEEN @lo AND @hi AND iocs.rowid = r.rid`,
  postgres: `UPDATE iocs SET reputation = r.score, updated_at = @nowIso, change_seq = @base + r.rn
     FROM (SELECT rid, score, row_number() OVER (ORDER BY rid) AS rn FROM (
             SELECT rowid AS rid, reputation AS old, ${REPUTATION_SQL_POSTGRES} AS score FROM iocs
             WHERE rowid BETWEEN @lo AND @hi AND status = 'active') AS scored
           WHERE (old <= ${DEFAULT_THRESHOLD}) <> (score <= ${DEFAULT_THRESHOLD})) AS r
     WHERE iocs.rowid BETWEEN @lo AND @hi AND iocs.rowid = r.rid`,
});

/** Every other changed score, in place. */
export const RESCORE = defineStatement<ScoreParams>({
  sqlite: `UPDATE iocs SET reputation = ${REPUTATION_SQL}
     WHERE rowid BETWEEN @lo AND @hi AND +status IN ('active', 'revoked', 'expired') AND reputation <> ${REPUTATION_SQL}`,
  postgres: `UPDATE iocs SET reputation = ${REPUTATION_SQL_POSTGRES}
     WHERE rowid BETWEEN @lo AND @hi AND status IN ('active', 'revoked', 'expired') AND reputation <> ${REPUTATION_SQL_POSTGRES}`,
});

/** The first row past `changes` rows that a step would change: where that step must stop. */
export const STEP_STOP = defineStatement<ScoreParams & { cutoff: string; changes: number }, { rid: number }>({
  sqlite: `SELECT rowid AS rid FROM iocs
     WHERE rowid BETWEEN @lo AND @hi AND ((+status = 'active' AND +last_seen < @cutoff)
       OR (+status IN ('active', 'revoked', 'expired') AND reputation <> ${REPUTATION_SQL}))
     ORDER BY rowid LIMIT 1 OFFSET @changes`,
  postgres: `SELECT rowid AS rid FROM iocs
     WHERE rowid BETWEEN @lo AND @hi AND ((status = 'active' AND last_seen < @cutoff)
       OR (status IN ('active', 'revoked', 'expired') AND reputation <> ${REPUTATION_SQL_POSTGRES}))
     ORDER BY rowid LIMIT 1 OFFSET @changes`,
});

const BOUNDS = defineStatement<void, { lo: number | null; hi: number | null }>(`SELECT min(rowid) AS lo, max(rowid) AS hi FROM iocs`);
const SEQ_VALUE = defineStatement<void, { value: number }>(`SELECT value FROM tc_state WHERE name = 'seq'`);
const BUMP_SEQ = defineStatement<[number, string]>(`UPDATE tc_state SET value = value + ?, updated_at = ? WHERE name = 'seq'`);
const BUMP_REFRESH = defineStatement<[string]>(`UPDATE tc_state SET value = value + 1, updated_at = ? WHERE name = 'refresh'`);
/** Active IoCs unseen since the cut-off become `expired`, with change-sequence positions from `base` on. */
const EXPIRE = defineStatement<ScoreParams & { nowIso: string; cutoff: string; base: number }>(
  `UPDATE iocs SET status = 'expired', updated_at = @nowIso, change_seq = @base + r.rn
     FROM (SELECT rowid AS rid, row_number() OVER (ORDER BY rowid) AS rn FROM iocs
           WHERE rowid BETWEEN @lo AND @hi AND +status = 'active' AND +last_seen < @cutoff) AS r
     WHERE iocs.rowid BETWEEN @lo AND @hi AND iocs.rowid = r.rid`,
);

type SequencedParams = ScoreParams & { nowIso: string; cutoff: string; base: number };

/**
 * The decay refresh's SQL, all of it over rowid ranges (the unary `+` keeps SQLite on the
 * rowid range instead of a status index that would scan the whole table for every step).
 * Writes that change what a feed lists take new change-sequence positions in the same call:
 * call them with the step's transaction (jobs/refresh.ts), which holds the change lock.
 */
export function createReputationRefreshStore(storage: Storage) {
  const scoreParams = (range: RefreshRange): ScoreParams => ({ lo: range.lo, hi: range.hi, now: julianDay(range.nowMs) });
  /** Runs a write that gives each row it changes the next change-sequence position, then moves the sequence past them. */
  const sequenced = async (q: Queryable, statement: Statement<SequencedParams, unknown>, range: RefreshRange): Promise<number> => {
    const base = (await q.get(SEQ_VALUE))!.value;
    const { changes } = await q.run(statement, { ...scoreParams(range), nowIso: range.nowIso, cutoff: range.cutoff, base });
    if (changes > 0) await q.run(BUMP_SEQ, [changes, range.nowIso]);
    return changes;
  };

  return {
    /** The lowest and highest rowid of `iocs` (nulls when empty). */
    async bounds(): Promise<{ lo: number | null; hi: number | null }> {
      return (await storage.get(BOUNDS))!;
    },
    /** The last rowid of `range` a step may cover so that it changes at most `changes` rows. */
    async stepEnd(q: Queryable, range: RefreshRange, changes: number): Promise<number> {
      const stop = await q.get(STEP_STOP, { ...scoreParams(range), cutoff: range.cutoff, changes });
      return stop ? stop.rid - 1 : range.hi;
    },
    /** Active IoCs unseen since the cut-off become `expired` (new change-sequence positions). */
    expire(q: Queryable, range: RefreshRange): Promise<number> {
      return sequenced(q, EXPIRE, range);
    },
    /** Active IoCs whose decayed score crosses the default threshold: new score, new positions. */
    cross(q: Queryable, range: RefreshRange): Promise<number> {
      return sequenced(q, CROSS_THRESHOLD, range);
    },
    /** Every other changed score, in place, without entering the change sequence. */
    async rescore(q: Queryable, range: RefreshRange): Promise<number> {
      return (await q.run(RESCORE, scoreParams(range))).changes;
    },
    /** Counts a refresh that changed something: feeds' ETag and Last-Modified follow it. */
    async markRefreshed(atIso: string): Promise<void> {
      await storage.run(BUMP_REFRESH, [atIso]);
    },
  };
}
export type ReputationRefreshStore = ReturnType<typeof createReputationRefreshStore>;
