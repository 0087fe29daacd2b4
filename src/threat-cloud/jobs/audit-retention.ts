import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Storage } from '../../shared/db/storage.js';
import { DAY_MS } from '../../shared/time.js';
import { createJobLease, type JobLease, type LeasedRun } from '../../shared/job-lease.js';
import { createAuditStore, type AuditStore, type PurgeKind } from '../stores/audit.js';

/** Rows one transaction deletes at most: a few milliseconds each, hourly counts included. */
export const PURGE_BATCH = 500;
export const PURGE_INTERVAL_MS = 60 * 60 * 1000;
/** The first purge waits a little so it does not compete with start-up. */
export const FIRST_PURGE_AFTER_MS = 30_000;
/** The purge's row in `job_leases`: one replica purges each interval. */
export const RETENTION_JOB = 'tc:audit-retention';

export interface RetentionDays {
  /** `query` (read) entries. */
  queryDays: number;
  /** Every other entry (the writes). */
  writeDays: number;
}

export interface PurgeResult {
  query: number;
  writes: number;
}

/**
 * Deletes audit entries past their retention, oldest first, in batches (the store's
 * `purgeBatch`). `purge()` runs at once, unfenced; `purgeLeased()`, what the schedule runs on
 * every replica, purges only if this replica claims the interval, its deletes fenced.
 */
export function createAuditRetention(deps: { storage: Storage; audit: AuditStore; clock: Clock; days: RetentionDays; batchSize?: number; lease?: JobLease }) {
  const { storage, clock, days, batchSize = PURGE_BATCH } = deps;
  const lease = deps.lease ?? createJobLease(storage, { name: RETENTION_JOB, clock });
  let stopping = false;

  /**
   * Deletes batches until none is left (or the purge is stopped), each followed by a pause as
   * long as it took: requests run in between, and a backlog (the first purge of a large log)
   * takes at most half of the event loop.
   */
  async function drain(audit: AuditStore, kind: PurgeKind, cutoff: string): Promise<number> {
    let deleted = 0;
    while (!stopping && storage.open) {
      const started = performance.now();
      const removed = await audit.purgeBatch(kind, cutoff, batchSize);
      deleted += removed;
      if (removed < batchSize) break;
      await sleep(Math.ceil(performance.now() - started));
    }
    return deleted;
  }

  /** One purge through `audit`; cut-offs are taken when it starts. */
  async function purgeWith(audit: AuditStore): Promise<PurgeResult> {
    const now = clock.now();
    const query = await drain(audit, 'query', toIso(now - days.queryDays * DAY_MS));
    const written = await drain(audit, 'writes', toIso(now - days.writeDays * DAY_MS));
    return { query, writes: written };
  }

  return {
    /** One purge now, unfenced. */
    purge: (): Promise<PurgeResult> => purgeWith(deps.audit),
    /** One purge if this replica claims the interval ('skipped' otherwise, 'lost' when another took over mid-run). */
    purgeLeased: (intervalMs: number): Promise<LeasedRun<PurgeResult>> =>
      lease.run(intervalMs, (fence) => purgeWith(createAuditStore(lease.fenced(storage, fence), clock))),
    /** Ends a running purge after its current batch. */
    halt(): void {
      stopping = true;
    },
  };
}
export type AuditRetention = ReturnType<typeof createAuditRetention>;

/**
 * Purges shortly after start and then hourly on unref'd timers; the returned function stops
 * the timers and waits for a running purge to end (after its current batch).
 */
export function scheduleAuditRetention(
  retention: AuditRetention,
  logger: FastifyBaseLogger,
  timing: { firstAfterMs?: number; everyMs?: number } = {},
): () => Promise<void> {
  const { firstAfterMs = FIRST_PURGE_AFTER_MS, everyMs = PURGE_INTERVAL_MS } = timing;
  let running: Promise<unknown> | null = null;
  const run = () => {
    if (running) return;
    running = retention
      .purgeLeased(everyMs)
      .then((run) => {
        if (run.outcome === 'ran' && run.result.query + run.result.writes > 0) logger.info({ deleted: run.result }, 'old audit entries purged');
        if (run.outcome === 'lost') logger.warn({ job: RETENTION_JOB, fence: run.fence }, 'audit purge stopped: another replica took over its lease');
      })
      .catch((error: unknown) => logger.error({ err: error }, 'audit purge failed'))
      .finally(() => {
        running = null;
      });
  };
  const first = setTimeout(run, firstAfterMs);
  const hourly = setInterval(run, everyMs);
  first.unref();
  hourly.unref();
  return async () => {
    clearTimeout(first);
    clearInterval(hourly);
    retention.halt();
    await running;
  };
}
