import { newReplicaName } from './replica-name.js';
import type { Clock } from './clock.js';
import { defineStatement, type Queryable, type Storage } from './db/storage.js';

/**
 * Background jobs run once per interval across replicas over one database. A job's tick fires
 * on every replica; the first to claim the interval in `job_leases` runs it, the others skip
 * the tick. The claim hands out the next `fence` number, and every write transaction of the
 * run checks, inside itself, that the row still carries that fence: a replica that paused
 * (GC, SIGSTOP, a stalled VM) past its lease while another claimed cannot write afterwards.
 * On SQLite one process is the only claimant, so claims succeed whenever the interval is due.
 */

/** How long a claim holds without renewal: a replica that died mid-run delays the job at most this long. */
export const DEFAULT_LEASE_MS = 30_000;
/** A tick may fire this much before a full interval has passed (timers drift, replicas tick out of phase) and still claim. */
const MAX_TOLERANCE_MS = 1000;

/** The run's lease went to another holder: its write was rolled back and the run must stop. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  readonly code = 'LEASE_LOST';
  constructor(readonly job: string, readonly fence: number) {
    super(`job ${job} lost its lease (fence ${fence}) to another replica`);
  }
}

type ClaimParams = { name: string; holder: string; now: number; dueBefore: number; expiresAt: number };
type HeldParams = { name: string; holder: string; fence: number };

/**
 * Taken when no run started within the interval and no lease is unexpired; the row is created
 * by the first claim. Concurrent claims on PostgreSQL queue on the row (and on the advisory
 * lock), and the second re-evaluates the WHERE on the row the first wrote, so one wins.
 */
const CLAIM = defineStatement<ClaimParams, { fence: number }>(
  `INSERT INTO job_leases (name, holder, fence, expires_at, last_run_at) VALUES (@name, @holder, 1, @expiresAt, @now)
   ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, fence = job_leases.fence + 1,
     expires_at = excluded.expires_at, last_run_at = excluded.last_run_at
   WHERE job_leases.last_run_at <= @dueBefore AND job_leases.expires_at <= @now
   RETURNING fence`,
);
const RENEW = defineStatement<HeldParams & { expiresAt: number }>(
  `UPDATE job_leases SET expires_at = @expiresAt WHERE name = @name AND holder = @holder AND fence = @fence`,
);
/** Ends the lease but keeps `last_run_at`: nobody runs the job again before its interval. */
const RELEASE = defineStatement<HeldParams & { now: number }>(
  `UPDATE job_leases SET expires_at = @now WHERE name = @name AND holder = @holder AND fence = @fence AND expires_at > @now`,
);
/**
 * FOR SHARE on PostgreSQL: a claim (an UPDATE of the row) waits until the write that checked
 * commits, so no write of a former holder can land after the new holder's claim.
 */
const HOLDER = defineStatement<[string], { holder: string; fence: number }>({
  sqlite: `SELECT holder, fence FROM job_leases WHERE name = ?`,
  postgres: `SELECT holder, fence FROM job_leases WHERE name = ? FOR SHARE`,
});

/** What a scheduled tick came to. */
export type LeasedRun<T> = { outcome: 'ran'; fence: number; result: T } | { outcome: 'skipped' } | { outcome: 'lost'; fence: number; error: LeaseLostError };

export interface JobLeaseOptions {
  /** The job's row in `job_leases` (`manager:status-sweep`). */
  name: string;
  clock: Clock;
  /** Who claims; by default this host, this process and a random part, so two apps of one process differ. */
  holder?: string;
  leaseMs?: number;
}

export function createJobLease(storage: Storage, options: JobLeaseOptions) {
  const { name, clock, leaseMs = DEFAULT_LEASE_MS } = options;
  const holder = options.holder ?? newReplicaName();

  async function check(tx: Queryable, fence: number): Promise<void> {
    const row = await tx.get(HOLDER, [name]);
    if (!row || row.holder !== holder || Number(row.fence) !== fence) throw new LeaseLostError(name, fence);
  }

  const lease = {
    name,
    holder,
    /** The next fence if this holder gets the interval (no run started within it, no live lease), else null. */
    async claim(intervalMs: number): Promise<number | null> {
      const now = clock.now();
      const tolerance = Math.min(MAX_TOLERANCE_MS, Math.floor(intervalMs / 10));
      const params = { name, holder, now, dueBefore: now - intervalMs + tolerance, expiresAt: now + leaseMs };
      // Durable: a fence handed out must never be handed out again after a crash.
      const row = await storage.transaction({ durable: true, locks: [`job:${name}`] }, (tx) => tx.get(CLAIM, params));
      return row ? Number(row.fence) : null;
    },
    /** Extends a held lease; false when it is no longer this holder's. */
    async renew(fence: number): Promise<boolean> {
      return (await storage.run(RENEW, { name, holder, fence, expiresAt: clock.now() + leaseMs })).changes === 1;
    },
    async release(fence: number): Promise<void> {
      await storage.run(RELEASE, { name, holder, fence, now: clock.now() });
    },
    /** Throws LeaseLostError unless the lease still carries `fence`; call first in each write transaction of a run. */
    check,
    /**
     * The storage with every write fenced: `transaction` and `run` check the fence inside
     * their transaction first. For stores a run writes through (reads pass as they are).
     */
    fenced(inner: Storage, fence: number): Storage {
      return Object.create(inner, {
        transaction: {
          value: <T>(opts: Parameters<Storage['transaction']>[0], work: Parameters<Storage['transaction']>[1]) =>
            inner.transaction(opts, async (tx) => {
              await check(tx, fence);
              return (await work(tx)) as T;
            }),
        },
        run: {
          value: (...args: Parameters<Storage['run']>) =>
            inner.transaction({ durable: false }, async (tx) => {
              await check(tx, fence);
              return tx.run(...args);
            }),
        },
      }) as Storage;
    },
    /**
     * A tick: claims the interval, runs `work` with the fence while renewing the lease, then
     * releases it. A LeaseLostError from the run is its outcome (the write was rolled back);
     * any other error propagates.
     */
    async run<T>(intervalMs: number, work: (fence: number) => Promise<T>): Promise<LeasedRun<T>> {
      const fence = await lease.claim(intervalMs);
      if (fence === null) return { outcome: 'skipped' };
      // A renewal that fails is not acted on here: the run's next fenced write finds out.
      const renewal = setInterval(() => void lease.renew(fence).catch(() => undefined), Math.max(1, Math.floor(leaseMs / 3)));
      renewal.unref();
      try {
        return { outcome: 'ran', fence, result: await work(fence) };
      } catch (error) {
        if (error instanceof LeaseLostError) return { outcome: 'lost', fence, error };
        throw error;
      } finally {
        clearInterval(renewal);
        // A release that fails leaves a lease that expires by itself.
        if (storage.open) await lease.release(fence).catch(() => undefined);
      }
    },
  };
  return lease;
}
export type JobLease = ReturnType<typeof createJobLease>;
