import { performance } from 'node:perf_hooks';
import { stepSize } from '../../shared/step-size.js';
import { createBilling, type Billing } from '../services/billing.js';
import type { AuthContext } from '../context.js';
import { HOUR_MS } from '../../shared/time.js';
import { createJobLease, type LeasedRun } from '../../shared/job-lease.js';
import type { Storage } from '../../shared/db/storage.js';
import { createSessionStore } from '../stores/sessions.js';
import { createResetTokenStore } from '../stores/reset-tokens.js';
import { createFailureStore } from '../stores/failures.js';
import { createKnownAddressStore } from '../stores/known-addresses.js';

export const MAINTENANCE_INTERVAL_MS = HOUR_MS;
/** The sweep's row in `job_leases`: one replica sweeps each hour. */
export const MAINTENANCE_JOB = 'auth:maintenance';
/** How long one slice of the hourly sweep should hold the (synchronous) database and event loop (each is followed by a pause). */
const SLICE_BUDGET_MS = 10;

export interface MaintenanceReport {
  plansExpired: number;
  sessionsPurged: number;
  resetTokensPurged: number;
  mailPurged: number;
  failureWindowsPurged: number;
  knownAddressesPurged: number;
}

/** What a sweep writes through: the app's own stores, or the same over a fenced storage. */
type Writers = Pick<AuthContext, 'sessions' | 'resetTokens' | 'outbox' | 'failures' | 'knownAddresses'> & { billing: Pick<Billing, 'sweepExpiredPlans'> };

/**
 * The hourly sweep: drops expired plans to community and removes rows that have served
 * their purpose (expired sessions, reset tokens and outbox mail, closed failure windows,
 * addresses without a sign-in for 30 days). `run()` sweeps at once, unfenced (tests, the
 * CLI); the timer's `tick()` sweeps only on the replica that claims the hour, its writes fenced.
 */
export function createMaintenance(ctx: AuthContext, billing: Billing) {
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  let stopped = false;
  const lease = createJobLease(ctx.storage, { name: MAINTENANCE_JOB, clock: ctx.clock });
  const unfenced: Writers = { ...ctx, billing };
  /**
   * The stores over the fenced storage. The outbox's purge stays on the app's store (the mail
   * module owns it); it deletes only mail past its expiry, which a late run cannot get wrong.
   */
  const fencedWriters = (storage: Storage): Writers => ({
    sessions: createSessionStore(storage, ctx.clock, ctx.config.auth.sessionIdleTimeoutMs),
    resetTokens: createResetTokenStore(storage, ctx.clock),
    outbox: ctx.outbox,
    failures: createFailureStore(storage, ctx.clock),
    knownAddresses: createKnownAddressStore(storage, ctx.clock),
    billing: createBilling({ ...ctx, storage }),
  });
  // Rows deleted per statement, sized to the budget: a session leaves five indexes, and under
  // load a slice of 500 took 70 ms; the other tables are lighter, each adapts on its own.
  const purges: Array<{ name: Exclude<keyof MaintenanceReport, 'plansExpired'>; purge: (w: Writers, limit: number) => Promise<number>; step: ReturnType<typeof stepSize> }> = [
    { name: 'sessionsPurged', purge: (w, limit) => w.sessions.purgeExpired(limit), step: stepSize({ initial: 100, min: 10, max: 2000, budgetMs: SLICE_BUDGET_MS }) },
    { name: 'resetTokensPurged', purge: (w, limit) => w.resetTokens.purge(limit), step: stepSize({ initial: 200, min: 10, max: 5000, budgetMs: SLICE_BUDGET_MS }) },
    { name: 'mailPurged', purge: (w, limit) => w.outbox.purgeExpired(limit), step: stepSize({ initial: 200, min: 10, max: 5000, budgetMs: SLICE_BUDGET_MS }) },
    { name: 'failureWindowsPurged', purge: (w, limit) => w.failures.purgeExpired(limit), step: stepSize({ initial: 200, min: 10, max: 5000, budgetMs: SLICE_BUDGET_MS }) },
    { name: 'knownAddressesPurged', purge: (w, limit) => w.knownAddresses.purgeStale(limit), step: stepSize({ initial: 200, min: 10, max: 5000, budgetMs: SLICE_BUDGET_MS }) },
  ];

  /** Every purge, a bounded slice per step, so a table of millions of stale rows never holds the event loop long. */
  async function* purgeSlices(report: MaintenanceReport, writers: Writers): AsyncGenerator<void> {
    for (const { name, purge, step } of purges) {
      let limit: number;
      let n: number;
      do {
        limit = step.size;
        const started = performance.now();
        n = await purge(writers, limit);
        step.took(performance.now() - started, n);
        report[name] += n;
        yield;
      } while (n === limit);
    }
  }

  const emptyReport = (): MaintenanceReport => ({
    plansExpired: 0,
    sessionsPurged: 0,
    resetTokensPurged: 0,
    mailPurged: 0,
    failureWindowsPurged: 0,
    knownAddressesPurged: 0,
  });

  /** Plans first (a user's tier must not outlive the plan by a whole sweep), then the purges. */
  async function expirePlans(report: MaintenanceReport, writers: Writers): Promise<void> {
    report.plansExpired = await writers.billing.sweepExpiredPlans();
    if (report.plansExpired > 0) ctx.logger.info({ plansExpired: report.plansExpired }, 'expired plans dropped to community');
  }

  /** The timer's sweep: each slice followed by a pause as long; nothing after a stop. */
  async function runInSlices(writers: Writers = unfenced): Promise<MaintenanceReport> {
    const report = emptyReport();
    await expirePlans(report, writers);
    const slices = purgeSlices(report, writers);
    for (;;) {
      const started = performance.now();
      if (stopped) return report;
      if ((await slices.next()).done) return report;
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(performance.now() - started)).unref());
    }
  }

  /** The whole sweep at once (tests and the CLI). */
  async function run(): Promise<MaintenanceReport> {
    const report = emptyReport();
    await expirePlans(report, unfenced);
    for await (const _ of purgeSlices(report, unfenced)) void _;
    return report;
  }

  /** What the timer runs on every replica: the sweep in slices if this replica claims the hour. */
  const tick = (): Promise<LeasedRun<MaintenanceReport>> =>
    lease.run(MAINTENANCE_INTERVAL_MS, (fence) => runInSlices(fencedWriters(lease.fenced(ctx.storage, fence))));

  return {
    run,
    /** The sweep in slices, unfenced (benchmarks time its slices). */
    runInSlices: (): Promise<MaintenanceReport> => runInSlices(),
    tick,
    start(): void {
      if (timer) return;
      stopped = false;
      timer = setInterval(() => {
        if (running) return;
        running = true;
        tick()
          .then((outcome) => {
            if (outcome.outcome === 'lost') ctx.logger.warn({ job: MAINTENANCE_JOB, fence: outcome.fence }, 'auth maintenance stopped: another replica took over its lease');
          })
          .catch((error: unknown) => ctx.logger.error({ err: error }, 'auth maintenance sweep failed'))
          .finally(() => {
            running = false;
          });
      }, MAINTENANCE_INTERVAL_MS);
      timer.unref();
    },
    stop(): void {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
export type Maintenance = ReturnType<typeof createMaintenance>;
