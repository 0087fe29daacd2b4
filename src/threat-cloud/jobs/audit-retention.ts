import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Storage } from '../../shared/db/storage.js';
import { DAY_MS } from '../../shared/time.js';
import type { AuditStore, PurgeKind } from '../stores/audit.js';

/** Rows one transaction deletes at most: a few milliseconds each, hourly counts included. */
export const PURGE_BATCH = 500;
export const PURGE_INTERVAL_MS = 60 * 60 * 1000;
/** The first purge waits a little so it does not compete with start-up. */
export const FIRST_PURGE_AFTER_MS = 30_000;

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
 * `purgeBatch`). The job only learns from `storage` whether the database is still open.
 */
export function createAuditRetention(deps: { storage: Pick<Storage, 'open'>; audit: AuditStore; clock: Clock; days: RetentionDays; batchSize?: number }) {
  const { storage, audit, clock, days, batchSize = PURGE_BATCH } = deps;
  let stopping = false;

  /**
   * Deletes batches until none is left (or the purge is stopped), each followed by a pause as
   * long as it took: requests run in between, and a backlog (the first purge of a large log)
   * takes at most half of the event loop.
   */
  async function drain(kind: PurgeKind, cutoff: string): Promise<number> {
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

  return {
    /** One purge; cut-offs are taken when it starts. */
    async purge(): Promise<PurgeResult> {
      const now = clock.now();
      const query = await drain('query', toIso(now - days.queryDays * DAY_MS));
      const written = await drain('writes', toIso(now - days.writeDays * DAY_MS));
      return { query, writes: written };
    },
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
      .purge()
      .then((result) => {
        if (result.query + result.writes > 0) logger.info({ deleted: result }, 'old audit entries purged');
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
