import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { DEFAULT_THRESHOLD, EXPIRY_DAYS, REPUTATION_SQL } from '../reputation.js';
import { DAY_MS } from '../../shared/time.js';

/** How long one refresh step may hold the (synchronous) database and event loop, as the correlation's batches. */
export const REFRESH_STEP_BUDGET_MS = 25;
/** Rows one step looks at, at most: finding what changed among them costs a few milliseconds. */
const STEP_ROWS = 4096;
/**
 * Changed rows per step, first and bounds. A step costs what its changed rows cost (each
 * moves in every index ordered by reputation: about half a millisecond at a million IoCs),
 * and IoCs loaded together decay together, so steps are cut by changed rows, not by range;
 * the number halves when a step runs long and doubles when it runs short.
 */
const FIRST_CHANGES = 32;
const MIN_CHANGES = 4;
const MAX_CHANGES = 2048;
export const REFRESH_INTERVAL_MS = 60 * 60 * 1000;

export interface RefreshResult {
  expired: number;
  crossed: number;
  rescored: number;
}

const julianDay = (epochMs: number) => epochMs / DAY_MS + 2440587.5;

/**
 * Decay refresh, entirely in SQL, over rowid ranges so a million-row table is handled in
 * short steps (a bounded number of changed rows each) that let requests through in between (the unary `+` keeps SQLite on the rowid
 * range instead of a status index that would scan the whole table for every step):
 * 1. active IoCs without a sighting for 90 days become `expired` (new change-sequence positions);
 * 2. IoCs whose decayed reputation crosses the default threshold get the new score and a new
 *    position, so incremental consumers learn they left (or joined) the blocklist;
 * 3. every other changed score is updated in place, without entering the change sequence.
 */
export function createReputationRefresh(db: Db, clock: Clock) {
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
  const cross = db.prepare(
    `UPDATE iocs SET reputation = r.score, updated_at = @nowIso, change_seq = @base + r.rn
     FROM (SELECT rid, score, row_number() OVER (ORDER BY rid) AS rn FROM (
             SELECT rowid AS rid, reputation AS old, ${REPUTATION_SQL} AS score FROM iocs
             WHERE rowid BETWEEN @lo AND @hi AND +status = 'active')
           WHERE (old <= ${DEFAULT_THRESHOLD}) <> (score <= ${DEFAULT_THRESHOLD})) AS r
     WHERE iocs.rowid BETWEEN @lo AND @hi AND iocs.rowid = r.rid`,
  );
  const rescore = db.prepare(
    `UPDATE iocs SET reputation = ${REPUTATION_SQL}
     WHERE rowid BETWEEN @lo AND @hi AND +status IN ('active', 'revoked', 'expired') AND reputation <> ${REPUTATION_SQL}`,
  );

  // The first row past `changes` rows that a step would change: where that step must stop.
  const stopAt = db.prepare<Record<string, unknown>, { rid: number }>(
    `SELECT rowid AS rid FROM iocs
     WHERE rowid BETWEEN @lo AND @hi AND ((+status = 'active' AND +last_seen < @cutoff)
       OR (+status IN ('active', 'revoked', 'expired') AND reputation <> ${REPUTATION_SQL}))
     ORDER BY rowid LIMIT 1 OFFSET @changes`,
  );

  /** Refreshes rows from `lo` on, at most to `hi` and at most `changes` changed rows; returns where it stopped. */
  const step = db.transaction((lo: number, hi: number, changes: number, now: number): RefreshResult & { last: number } => {
    const nowIso = toIso(now);
    const cutoff = toIso(now - EXPIRY_DAYS * DAY_MS);
    const stop = stopAt.get({ lo, hi, changes, now: julianDay(now), cutoff });
    const last = stop ? stop.rid - 1 : hi;
    const params = { lo, hi: last, now: julianDay(now), nowIso, cutoff };
    const expired = expire.run({ ...params, base: seqValue.get()!.value }).changes;
    if (expired > 0) bumpSeq.run(expired, nowIso);
    const crossed = cross.run({ ...params, base: seqValue.get()!.value }).changes;
    if (crossed > 0) bumpSeq.run(crossed, nowIso);
    const rescored = rescore.run(params).changes;
    return { expired, crossed, rescored, last };
  });

  return {
    /**
     * Runs the whole table in steps of about REFRESH_STEP_BUDGET_MS, each followed by a pause
     * as long as it took, so a refresh (or a backlog after downtime, when every score moved)
     * uses at most half of the event loop and never blocks it for long.
     */
    async run(): Promise<RefreshResult> {
      const total: RefreshResult = { expired: 0, crossed: 0, rescored: 0 };
      const { lo, hi } = bounds.get()!;
      if (lo === null || hi === null) return total;
      const now = clock.now();
      let changes = FIRST_CHANGES;
      for (let start = lo; start <= hi; ) {
        if (!db.open) break;
        const started = performance.now();
        const result = step(start, Math.min(hi, start + STEP_ROWS - 1), changes, now);
        const took = performance.now() - started;
        start = result.last + 1;
        total.expired += result.expired;
        total.crossed += result.crossed;
        total.rescored += result.rescored;
        if (took > REFRESH_STEP_BUDGET_MS) changes = Math.max(MIN_CHANGES, Math.floor(changes / 2));
        else if (took < REFRESH_STEP_BUDGET_MS / 4) changes = Math.min(MAX_CHANGES, changes * 2);
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(took))));
      }
      if (db.open && total.expired + total.crossed + total.rescored > 0) bumpRefresh.run(toIso(now));
      return total;
    },
  };
}

/** Starts the hourly refresh on an unref'd timer; the returned function stops it. */
export function scheduleRefresh(refresh: ReturnType<typeof createReputationRefresh>, logger: FastifyBaseLogger, intervalMs = REFRESH_INTERVAL_MS) {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = refresh
      .run()
      .then((result) => logger.debug({ ...result }, 'reputation refresh done'))
      .catch((error: unknown) => logger.error({ err: error }, 'reputation refresh failed'))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
