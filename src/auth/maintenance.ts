import { performance } from 'node:perf_hooks';
import { stepSize } from '../shared/step-size.js';
import type { Billing } from './services/billing.js';
import type { AuthContext } from './context.js';

export const MAINTENANCE_INTERVAL_MS = 60 * 60 * 1000;
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
  // Sessions deleted per statement, sized to the budget: each row leaves five indexes, and
  // under load a slice of 500 took 70 ms.
  const sessionsPerSlice = stepSize({ initial: 100, min: 10, max: 2000, budgetMs: SLICE_BUDGET_MS });

  /** Expired and idled-out sessions, a slice per step, so many of them never hold the event loop long. */
  function* sessionSlices(purged: { n: number }): Generator<void> {
    let limit: number;
    let n: number;
    do {
      limit = sessionsPerSlice.size;
      const started = performance.now();
      n = ctx.sessions.purgeExpired(limit);
      sessionsPerSlice.took(performance.now() - started, n);
      purged.n += n;
      yield;
    } while (n === limit);
  }

  /** The timer's sweep: the session slices, each followed by a pause as long, then the rest; nothing after a stop. */
  async function runInSlices(): Promise<void> {
    const slices = sessionSlices({ n: 0 });
    for (;;) {
      const started = performance.now();
      if (stopped) return;
      if (slices.next().done) break;
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(performance.now() - started)).unref());
    }
    if (!stopped) run();
  }

  function run(): MaintenanceReport {
    const sessions = { n: 0 };
    for (const _ of sessionSlices(sessions)) void _;
    const report = {
      plansExpired: billing.sweepExpiredPlans(),
      sessionsPurged: sessions.n,
      resetTokensPurged: ctx.resetTokens.purge(),
      mailPurged: ctx.outbox.purgeExpired(),
      failureWindowsPurged: ctx.failures.purgeExpired(),
      knownAddressesPurged: ctx.knownAddresses.purgeStale(),
    };
    if (report.plansExpired > 0) ctx.logger.info({ plansExpired: report.plansExpired }, 'expired plans dropped to community');
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
