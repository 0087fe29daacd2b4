import type { FastifyBaseLogger } from 'fastify';
import type { App } from '../../shared/base-app.js';
import type { Clock } from '../../shared/clock.js';
import type { Transaction, Storage } from '../../shared/db/storage.js';
import type { ThreatCloudContext } from '../context.js';
import { createCorrelationJob, DEFAULT_SCHEDULE, type CorrelationSchedule } from '../jobs/correlation.js';
import type { JobLease } from '../../shared/job-lease.js';
import type { QueryAuditBuffer } from '../services/query-audit.js';
import { createMitreCatalog } from './mitre.js';
import { registerCampaignRoutes } from './routes/campaigns.js';
import { registerQueryRoutes } from './routes/queries.js';
import { createAnalyticsService } from './services/analytics.js';
import { createCampaignService } from './services/campaigns.js';
import { createCorrelator } from './services/correlation.js';
import { createAggregateMemo } from './services/memo.js';
import { createCampaignQueries } from './stores/campaign-queries.js';
import { createDataVersionStore } from './stores/data-version.js';
import { createGeoQuery } from './stores/geo.js';
import { createHeatmapQuery } from './stores/heatmap.js';
import { createTimeseriesQuery } from './stores/timeseries.js';
import { createTrendsQuery } from './stores/trends.js';

/**
 * Campaigns and analytics for the Threat Cloud app, wired like the app itself: stores →
 * services (handed to routes through the app's context) and the correlation job (started and
 * stopped by the app with its other jobs). Built before the core's services so trap intel can
 * correlate at once (`correlateNow`); `register` adds the routes.
 */
export function createIntel(deps: {
  storage: Storage;
  clock: Clock;
  logger: FastifyBaseLogger;
  queryAudit: QueryAuditBuffer;
  schedule?: CorrelationSchedule;
  /** With several replicas, one correlates per check interval (the one holding this lease). */
  correlationLease?: JobLease;
}) {
  const { storage, clock, queryAudit } = deps;
  const mitre = createMitreCatalog();
  // One memo for campaigns and analytics: both read data the same version describes.
  const memo = createAggregateMemo(createDataVersionStore(storage), clock);
  const correlator = createCorrelator(storage, clock);
  // Campaign reads and analytics go through the storage port (the trends' member walk still streams from the connection).

  return {
    campaigns: createCampaignService({ campaigns: createCampaignQueries(storage, clock, mitre), memo, queryAudit }),
    analytics: createAnalyticsService({
      queries: {
        timeseries: createTimeseriesQuery(storage, clock),
        geo: createGeoQuery(storage, clock),
        trends: createTrendsQuery(storage, clock),
        heatmap: createHeatmapQuery(storage, clock, mitre),
      },
      memo,
      queryAudit,
    }),
    /** The background correlation over the same correlator trap intel uses. */
    correlation: createCorrelationJob(correlator, deps.logger, deps.schedule ?? DEFAULT_SCHEDULE, deps.correlationLease),
    /**
     * Trap intel, inside its transaction (which must hold CAMPAIGNS_LOCK): correlate the IoCs it
     * touched, return the attacker's campaign.
     */
    correlateNow: (tx: Transaction, iocIds: readonly string[]): Promise<string | null> => correlator.correlateNow(tx, iocIds),

    register(app: App, context: ThreatCloudContext): void {
      registerCampaignRoutes(app, context);
      registerQueryRoutes(app, context);
    },
  };
}
export type Intel = ReturnType<typeof createIntel>;
