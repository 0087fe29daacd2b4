import type { Billing } from './services/billing.js';
import type { AuthContext } from './context.js';

export const MAINTENANCE_INTERVAL_MS = 60 * 60 * 1000;

export interface MaintenanceReport {
  plansExpired: number;
  sessionsPurged: number;
  resetTokensPurged: number;
  mailPurged: number;
  failureWindowsPurged: number;
}

/**
 * The hourly sweep: drops expired plans to community and removes rows that have served
 * their purpose (expired sessions, reset tokens and outbox mail, closed failure windows).
 */
export function createMaintenance(ctx: AuthContext, billing: Billing) {
  let timer: NodeJS.Timeout | null = null;

  function run(): MaintenanceReport {
    const report = {
      plansExpired: billing.sweepExpiredPlans(),
      sessionsPurged: ctx.sessions.purgeExpired(),
      resetTokensPurged: ctx.resetTokens.purge(),
      mailPurged: ctx.outbox.purgeExpired(),
      failureWindowsPurged: ctx.failures.purgeExpired(),
    };
    if (report.plansExpired > 0) ctx.logger.info({ plansExpired: report.plansExpired }, 'expired plans dropped to community');
    return report;
  }

  return {
    run,
    start(): void {
      if (timer) return;
      timer = setInterval(() => {
        try {
          run();
        } catch (error) {
          ctx.logger.error({ err: error }, 'auth maintenance sweep failed');
        }
      }, MAINTENANCE_INTERVAL_MS);
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
export type Maintenance = ReturnType<typeof createMaintenance>;
