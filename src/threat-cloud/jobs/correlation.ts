import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import type { JobLease } from '../../shared/job-lease.js';
import { DEFAULT_BATCH, type Correlator } from '../intel/services/correlation.js';

/** The correlation's row in `job_leases`: one replica correlates each check interval. */
export const CORRELATION_JOB = 'tc:campaign-correlation';

export interface CorrelationSchedule {
  /** How often new reports are looked for: new data is correlated within this (≤ 60 s). */
  checkMs: number;
  /** A run happens at least this often even when nothing looked new. */
  everyMs: number;
}

/** How long one correlation transaction may hold the database and (on SQLite, synchronous) the event loop. */
const BATCH_BUDGET_MS = 25;
const MIN_BATCH = 50;
const MAX_BATCH = 2000;

export const DEFAULT_SCHEDULE: CorrelationSchedule = { checkMs: 15_000, everyMs: 5 * 60_000 };

/**
 * Runs the correlation in the background: a cheap check for new reports on an unref'd
 * timer, and when there are some, batches until none is left, yielding to the event loop
 * between batches so requests keep flowing. Started in onReady, stopped in onClose.
 *
 * With a lease, a due check runs only on the replica that claims the check interval, so
 * several replicas do not drain the same reports side by side. Its batches are not fenced,
 * and need not be: each batch reads the watermark and writes groups in one transaction under
 * CAMPAIGNS_LOCK, so a paused former holder's late batch starts from the current watermark
 * and finds nothing already correlated ("Campaign detected" stays one event).
 */
export function createCorrelationJob(
  correlator: Correlator,
  logger: FastifyBaseLogger,
  schedule: CorrelationSchedule = DEFAULT_SCHEDULE,
  lease?: JobLease,
) {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = true;
  let lastRunAt = 0;
  let batchSize = DEFAULT_BATCH;
  /** Ends the pause between two batches at once: a stop waits for a batch, never for a pause. */
  let endPause: (() => void) | null = null;

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wakeUp = setTimeout(() => endPause?.(), ms).unref();
      endPause = () => {
        clearTimeout(wakeUp);
        endPause = null;
        resolve();
      };
    });
  }

  /**
   * Batches sized to take about BATCH_BUDGET_MS (halved when slower, doubled when much
   * faster), each followed by a pause as long as the batch took: a backlog (a bulk import,
   * an upgrade) uses at most half of the event loop and never blocks it for long.
   */
  async function drain(): Promise<void> {
    lastRunAt = performance.now();
    while (!stopped) {
      const started = performance.now();
      const processed = await correlator.runBatch(batchSize);
      const took = performance.now() - started;
      if (processed === 0) break;
      if (took > BATCH_BUDGET_MS) batchSize = Math.max(MIN_BATCH, Math.floor(batchSize / 2));
      else if (took < BATCH_BUDGET_MS / 4) batchSize = Math.min(MAX_BATCH, batchSize * 2);
      await pause(Math.max(1, Math.ceil(took)));
    }
  }

  /** Whether a run is due: reports arrived since the last, or none ran for `everyMs`. */
  async function due(): Promise<boolean> {
    try {
      return (await correlator.hasPending()) || performance.now() - lastRunAt >= schedule.everyMs;
    } catch (error) {
      logger.error({ err: error }, 'campaign correlation check failed');
      return false;
    }
  }

  function tick(): void {
    if (running || stopped) return;
    // Set at once, check included, so a tick while the check reads finds the run in progress.
    running = due()
      .then(async (isDue) => {
        if (!isDue || stopped) return;
        if (!lease) return drain();
        await lease.run(schedule.checkMs, drain);
      })
      .catch((error: unknown) => logger.error({ err: error }, 'campaign correlation failed'))
      .finally(() => {
        running = null;
      });
  }

  return {
    start(): void {
      stopped = false;
      timer ??= setInterval(tick, schedule.checkMs);
      timer.unref();
    },
    /** Stops the timer and waits for a batch in progress, so the database can close. */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      endPause?.();
      await running;
    },
    /** One check now (what the timer does); resolves when the run it started is over. */
    async runNow(): Promise<void> {
      tick();
      await running;
    },
    /** One batch now, on the app's own correlator, outside the schedule (tests, benchmarks); returns how many reports. */
    runBatch(limit?: number): Promise<number> {
      return correlator.runBatch(limit);
    },
    /** Whether reports arrived that no run has looked at yet. */
    hasPending(): Promise<boolean> {
      return correlator.hasPending();
    },
  };
}
export type CorrelationJob = ReturnType<typeof createCorrelationJob>;
