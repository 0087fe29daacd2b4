import type { FastifyBaseLogger } from 'fastify';
import type { App } from '../../shared/base-app.js';
import type { Clock } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import type { ThreatCloudContext } from '../context.js';
import { createCampaignQueries } from './stores/campaign-queries.js';
import { createCorrelationJob, DEFAULT_SCHEDULE, type CorrelationSchedule } from '../jobs/correlation.js';
import { createCorrelator } from './services/correlation.js';
import { createGeoQuery } from './stores/geo.js';
import { createHeatmapQuery } from './stores/heatmap.js';
import { createAggregateMemo } from './stores/memo.js';
import { createMitreCatalog } from './mitre.js';
import { registerCampaignRoutes } from './routes/campaigns.js';
import { registerQueryRoutes } from './routes/queries.js';
import { createTimeseriesQuery } from './stores/timeseries.js';
import { createTrendsQuery } from './stores/trends.js';

/**
 * Campaigns and analytics (issue 6) for the Threat Cloud app: built before the core's
 * routes so trap intel can correlate at once (`correlateNow`), then `register` adds the
 * routes and the background correlation. Lookups read an IoC's campaign in their own row.
 */
export function createIntel(deps: { db: Db; clock: Clock; logger: FastifyBaseLogger; schedule?: CorrelationSchedule }) {
  const { db, clock } = deps;
  const mitre = createMitreCatalog();
  const correlator = createCorrelator(db, clock);
  const campaigns = createCampaignQueries(db, clock, mitre);
  const job = createCorrelationJob(correlator, deps.logger, deps.schedule ?? DEFAULT_SCHEDULE);

  return {
    correlator,
    job,
    /** Trap intel, inside its transaction: correlate the IoCs it touched, return the attacker's campaign. */
    correlateNow: (iocIds: readonly string[]): string | null => correlator.correlateNow(iocIds),

    register(app: App, context: ThreatCloudContext): void {
      const memo = createAggregateMemo(db, clock);
      registerCampaignRoutes(app, context, campaigns, memo);
      registerQueryRoutes(app, context, memo, {
        timeseries: createTimeseriesQuery(db, clock),
        geo: createGeoQuery(db, clock),
        trends: createTrendsQuery(db, clock),
        heatmap: createHeatmapQuery(db, clock, mitre),
      });
      app.addHook('onReady', async () => job.start());
      app.addHook('onClose', async () => job.stop());
    },
  };
}
export type Intel = ReturnType<typeof createIntel>;
