import { performance } from 'node:perf_hooks';
import { stepSize } from '../../shared/step-size.js';
import type { Billing } from '../services/billing.js';
import type { AuthContext } from '../context.js';
import { HOUR_MS } from '../../shared/time.js';

export const MAINTENANCE_INTERVAL_MS = HOUR_MS;
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

/**
 * The hourly sweep: drops expired plans to community and removes rows that have served
 * their purpose (expired sessions, reset tokens and outbox mail, closed failure windows,
 * addresses without a sign-in for 30 days).
 */
export function createMaintenance(ctx: AuthContext, billing: Billing) {
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  let stopped = false;
  // Rows deleted per statement, sized to the budget: a session leaves five indexes, and under
  // load a slice of 500 took 70 ms; the other tables are lighter, each adapts on its own.
  const purges: Array<{ name: Exclude<keyof MaintenanceReport, 'plansExpired'>; purge: (limit: number) => Promise<number>; step: ReturnType<typeof stepSize> }> = [
    { name: 'sessionsPurged', purge: (limit) => ctx.sessions.purgeExpired(limit), step: stepSize({ initial: 100, min: 10, max: 2000, budgetMs: SLICE_BUDGET_MS }) },
    { name: 'resetTokensPurged', purge: (limit) => ctx.resetTokens.purge(limit), step: stepSize({ initial: 200, min: 10, max: 5000, budgetMs: SLICE_BUDGET_MS }) },
    { name: 'mailPurged', purge: (limit) => ctx.outbox.purgeExpired(limit), step: stepSize({ initial: 200, min: 10, max: 5000, budgetMs: SLICE_BUDGET_MS }) },
    { name: 'failureWindowsPurged', purge: (limit) => ctx.failures.purgeExpired(limit), step: stepSize({ initial: 200, min: 10, max: 5000, budgetMs: SLICE_BUDGET_MS }) },
    { name: 'knownAddressesPurged', purge: (limit) => ctx.knownAddresses.purgeStale(limit), step: stepSize({ initial: 200, min: 10, max: 5000, budgetMs: SLICE_BUDGET_MS }) },
  ];

  /** Every purge, a bounded slice per step, so a table of millions of stale rows never holds the event loop long. */
  async function* purgeSlices(report: MaintenanceReport): AsyncGenerator<void> {
    for (const { name, purge, step } of purges) {
      let limit: number;
      let n: number;
      do {
        limit = step.size;
        const started = performance.now();
        n = await purge(limit);
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
  async function expirePlans(report: MaintenanceReport): Promise<void> {
    report.plansExpired = await billing.sweepExpiredPlans();
    if (report.plansExpired > 0) ctx.logger.info({ plansExpired: report.plansExpired }, 'expired plans dropped to community');
  }

  /** The timer's sweep: each slice followed by a pause as long; nothing after a stop. */
  async function runInSlices(): Promise<MaintenanceReport> {
    const report = emptyReport();
    await expirePlans(report);
    const slices = purgeSlices(report);
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
    await expirePlans(report);
    for await (const _ of purgeSlices(report)) void _;
    return report;
  }

  return {
    run,
    /** What the timer runs (benchmarks time its slices). */
    runInSlices,
    start(): void {
      if (timer) return;
      stopped = false;
      timer = setInterval(() => {
        if (running) return;
        running = true;
        runInSlices()
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
