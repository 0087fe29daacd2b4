import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { DAY_MS } from '../../shared/time.js';
import { EXPIRY_DAYS } from '../reputation.js';
import { TC_CHANGES } from '../services/ioc-merge.js';
import { createReputationRefreshStore, type ReputationRefreshStore } from '../stores/reputation-refresh.js';
import type { Storage } from '../../shared/db/storage.js';
import { createJobLease, type JobLease, type LeasedRun } from '../../shared/job-lease.js';

/**
 * How long one refresh step may take. On SQLite a step holds the writer and (synchronous) the
 * event loop, so it gets what the correlation's batches get. On PostgreSQL it blocks neither
 * the event loop nor readers, only uploads waiting for the change lock, and about five round
 * trips of its time are not rows at all: with 25 ms a loaded machine cut steps to the minimum
 * of 4 changed rows, and a refresh after downtime would have taken hours.
 */
export const REFRESH_STEP_BUDGET_MS = { sqlite: 25, postgres: 100 } as const;
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
/** The refresh's row in `job_leases`: one replica refreshes each interval. */
export const REFRESH_JOB = 'tc:reputation-refresh';

export interface RefreshResult {
  expired: number;
  crossed: number;
  rescored: number;
}

/**
 * Decay refresh, entirely in SQL (stores/reputation-refresh.ts), over rowid ranges so a
 * million-row table is handled in short steps (a bounded number of changed rows each) that
 * let requests through in between. Each step, in one transaction:
 * 1. active IoCs without a sighting for 90 days become `expired` (new change-sequence positions);
 * 2. IoCs whose decayed reputation crosses the default threshold get the new score and a new
 *    position, so incremental consumers learn they left (or joined) the blocklist;
 * 3. every other changed score is updated in place, without entering the change sequence.
 * `run()` refreshes at once, unfenced (tests, the CLI); `runLeased()`, what the schedule runs
 * on every replica, refreshes only if this replica claims the interval, its writes fenced.
 */
export function createReputationRefresh(deps: { storage: Storage; iocs: ReputationRefreshStore; clock: Clock; lease?: JobLease }) {
  const { storage, clock } = deps;
  const lease = deps.lease ?? createJobLease(storage, { name: REFRESH_JOB, clock });

  /**
   * Refreshes rows from `lo` on, at most to `hi` and at most `changes` changed rows; returns
   * where it stopped. Its writes take change-sequence positions: it holds the change lock.
   */
  const step = (writes: Storage, iocs: ReputationRefreshStore, lo: number, hi: number, changes: number, now: number): Promise<RefreshResult & { last: number }> =>
    writes.transaction({ durable: false, locks: [TC_CHANGES] }, async (tx) => {
      const nowIso = toIso(now);
      const cutoff = toIso(now - EXPIRY_DAYS * DAY_MS);
      const last = await iocs.stepEnd(tx, { lo, hi, nowMs: now, nowIso, cutoff }, changes);
      const range = { lo, hi: last, nowMs: now, nowIso, cutoff };
      const expired = await iocs.expire(tx, range);
      const crossed = await iocs.cross(tx, range);
      const rescored = await iocs.rescore(tx, range);
      return { expired, crossed, rescored, last };
    });

  /**
   * Runs the whole table in steps of about REFRESH_STEP_BUDGET_MS (per engine), each followed by a pause
   * as long as it took, so a refresh (or a backlog after downtime, when every score moved)
   * uses at most half of the event loop and never blocks it for long. Writes go through `writes`.
   */
  async function refreshOver(writes: Storage, iocs: ReputationRefreshStore): Promise<RefreshResult> {
    const total: RefreshResult = { expired: 0, crossed: 0, rescored: 0 };
    const { lo, hi } = await iocs.bounds();
    if (lo === null || hi === null) return total;
    const now = clock.now();
    const budget = REFRESH_STEP_BUDGET_MS[storage.engine];
    let changes = FIRST_CHANGES;
    for (let start = lo; start <= hi; ) {
      if (!storage.open) break;
      const started = performance.now();
      const result = await step(writes, iocs, start, Math.min(hi, start + STEP_ROWS - 1), changes, now);
      const took = performance.now() - started;
      start = result.last + 1;
      total.expired += result.expired;
      total.crossed += result.crossed;
      total.rescored += result.rescored;
      if (took > budget) changes = Math.max(MIN_CHANGES, Math.floor(changes / 2));
      else if (took < budget / 4) changes = Math.min(MAX_CHANGES, changes * 2);
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(took))));
    }
    if (storage.open && total.expired + total.crossed + total.rescored > 0) await iocs.markRefreshed(toIso(now));
    return total;
  }

  return {
    /** The whole refresh now, unfenced. */
    run: (): Promise<RefreshResult> => refreshOver(storage, deps.iocs),
    /** The refresh if this replica claims the interval ('skipped' otherwise, 'lost' when another took over mid-run). */
    runLeased: (intervalMs: number): Promise<LeasedRun<RefreshResult>> =>
      lease.run(intervalMs, (fence) => {
        const fenced = lease.fenced(storage, fence);
        return refreshOver(fenced, createReputationRefreshStore(fenced));
      }),
  };
}
export type ReputationRefresh = ReturnType<typeof createReputationRefresh>;

/** Starts the hourly refresh on an unref'd timer; the returned function stops it. */
export function scheduleRefresh(refresh: ReputationRefresh, logger: FastifyBaseLogger, intervalMs = REFRESH_INTERVAL_MS) {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = refresh
      .runLeased(intervalMs)
      .then((run) => {
        if (run.outcome === 'ran') logger.debug({ ...run.result }, 'reputation refresh done');
        if (run.outcome === 'lost') logger.warn({ job: REFRESH_JOB, fence: run.fence }, 'reputation refresh stopped: another replica took over its lease');
      })
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
