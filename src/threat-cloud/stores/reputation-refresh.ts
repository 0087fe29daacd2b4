import type { Db } from '../../shared/db/open.js';
import { defineStatement } from '../../shared/db/storage.js';
import { DAY_MS } from '../../shared/time.js';
import { DEFAULT_THRESHOLD, REPUTATION_SQL, REPUTATION_SQL_POSTGRES } from '../reputation.js';

/** A rowid range of one refresh step and the instant it refreshes to. */
export interface RefreshRange {
  lo: number;
  hi: number;
  nowMs: number;
  nowIso: string;
  /** `last_seen` before this: expired. */
  cutoff: string;
}

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

/**
 * The decay refresh's SQL, all of it over rowid ranges (the unary `+` keeps SQLite on the
 * rowid range instead of a status index that would scan the whole table for every step).
 * Writes that change what a feed lists take new change-sequence positions in the same call.
 * Call the writes inside one transaction per step (jobs/refresh.ts).
 */
export function createReputationRefreshStore(db: Db) {
  const bounds = db.prepare<[], { lo: number | null; hi: number | null }>(`SELECT min(rowid) AS lo, max(rowid) AS hi FROM iocs`);
  const seqValue = db.prepare<[], { value: number }>(`SELECT value FROM tc_state WHERE name = 'seq'`);
  const bumpSeq = db.prepare<[number, string]>(`UPDATE tc_state SET value = value + ?, updated_at = ? WHERE name = 'seq'`);
  const bumpRefresh = db.prepare<[string]>(`UPDATE tc_state SET value = value + 1, updated_at = ? WHERE name = 'refresh'`);
  const expire = db.prepare(
    `UPDATE iocs SET status = 'expired', updated_at = @nowIso, change_seq = @base + r.rn
     FROM (SELECT rowid AS rid, row_number() OVER (ORDER BY rowid) AS rn FROM iocs
           WHERE rowid BETWEEN @lo AND @hi AND +status = 'active' AND +last_seen < @cutoff) AS r
     WHERE iocs.rowid BETWEEN @lo AND @hi AND iocs.rowid = r.rid`,
  );
  const cross = db.prepare(CROSS_THRESHOLD.sql);
  const rescore = db.prepare(RESCORE.sql);
  const stopAt = db.prepare<Record<string, unknown>, { rid: number }>(STEP_STOP.sql);

  const params = (range: RefreshRange) => ({ lo: range.lo, hi: range.hi, now: julianDay(range.nowMs), nowIso: range.nowIso, cutoff: range.cutoff });
  /** Runs a write that gives each row it changes the next change-sequence position, then moves the sequence past them. */
  const sequenced = (statement: typeof expire, range: RefreshRange): number => {
    const changed = statement.run({ ...params(range), base: seqValue.get()!.value }).changes;
    if (changed > 0) bumpSeq.run(changed, range.nowIso);
    return changed;
  };

  return {
    /** The lowest and highest rowid of `iocs` (nulls when empty). */
    bounds(): { lo: number | null; hi: number | null } {
      return bounds.get()!;
    },
    /** The last rowid of `range` a step may cover so that it changes at most `changes` rows. */
    stepEnd(range: RefreshRange, changes: number): number {
      const stop = stopAt.get({ ...params(range), changes });
      return stop ? stop.rid - 1 : range.hi;
    },
    /** Active IoCs unseen since the cut-off become `expired` (new change-sequence positions). */
    expire(range: RefreshRange): number {
      return sequenced(expire, range);
    },
    /** Active IoCs whose decayed score crosses the default threshold: new score, new positions. */
    cross(range: RefreshRange): number {
      return sequenced(cross, range);
    },
    /** Every other changed score, in place, without entering the change sequence. */
    rescore(range: RefreshRange): number {
      return rescore.run(params(range)).changes;
    },
    /** Counts a refresh that changed something: feeds' ETag and Last-Modified follow it. */
    markRefreshed(atIso: string): void {
      bumpRefresh.run(atIso);
    },
  };
}
export type ReputationRefreshStore = ReturnType<typeof createReputationRefreshStore>;
