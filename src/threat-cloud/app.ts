import { Type } from '@sinclair/typebox';
import { createApiKeyStore } from '../shared/api-keys.js';
import { labelledGauge, serviceMetrics } from '../shared/metrics.js';
import { createBaseApp, type App } from '../shared/base-app.js';
import { registerHealth } from '../shared/health.js';
import { scaled, type ServiceDeps } from '../shared/service-deps.js';
import { createUsageStore } from '../shared/usage.js';
import { VERSION } from '../shared/version.js';
import { ANONYMOUS_LIMIT_PER_MINUTE, createAdminGuard, createApiKeyGuard, createSearchGuard } from './access.js';
import { createAuditStore, createQueryAuditBuffer } from './audit.js';
import { createAuditRetention, scheduleAuditRetention } from './audit-retention.js';
import { syncBootstrapKeys } from './bootstrap-keys.js';
import type { ThreatCloudContext } from './context.js';
import { createFeedStore } from './feeds.js';
import { createIocQueries } from './ioc-queries.js';
import { createIntel } from './intel/index.js';
import type { CorrelationSchedule } from './intel/correlation-job.js';
import { createIocService } from './ioc-service.js';
import { createReputationRefresh, scheduleRefresh } from './refresh.js';
import { registerAdminRoutes, registerKeyAdminRoutes } from './routes/admin.js';
import { registerConsoleRoutes } from './routes/console.js';
import { registerFeedRoutes } from './routes/feeds.js';
import { registerIocRoutes } from './routes/iocs.js';
import { registerTrapIntelRoutes } from './routes/trap-intel.js';
import { createRuleStore } from './rules.js';
import { createStatsStore } from './stats.js';

export { ANONYMOUS_LIMIT_PER_MINUTE };

export interface ThreatCloudOptions {
  /** Milliseconds between decay refreshes (hourly by default). */
  refreshIntervalMs?: number;
  /** How often campaign correlation looks for new reports (15 s) and runs at the latest (5 min). */
  correlation?: CorrelationSchedule;
  /** When the audit purge first runs after start (30 s) and how often then (hourly). */
  auditPurge?: { firstAfterMs?: number; everyMs?: number };
}

/** The Threat Cloud: IoCs with reputation, sightings, trap intel, campaigns, feeds, analytics. */
export async function buildThreatCloudApp(deps: ServiceDeps, options: ThreatCloudOptions = {}): Promise<App> {
  const { config, db, clock } = deps;
  const app = await createBaseApp({
    service: 'threat-cloud',
    title: 'Panguard Threat Cloud',
    description: 'Collective threat intelligence: indicators of compromise, reputation, feeds and analytics.',
    version: VERSION,
    logger: deps.logger,
    https: deps.https,
    trustProxy: config.trustProxy,
    corsAllowedOrigins: config.corsAllowedOrigins,
    rateLimit: { max: scaled(ANONYMOUS_LIMIT_PER_MINUTE, config) },
    // IoC values up to 2,048 characters travel percent-encoded in paths.
    maxParamLength: 3 * 2048,
    metrics: serviceMetrics(config.metrics, 'threat-cloud', db, [iocsByStatusGauge(db)]),
  });

  const keys = createApiKeyStore(db, clock);
  const synced = syncBootstrapKeys(db, keys, config.threatCloud.apiKeys);
  if (synced.added + synced.revoked > 0) app.log.info(synced, 'bootstrap API keys synchronised with TC_API_KEYS');

  const iocs = createIocService(db, clock);
  const audit = createAuditStore(db, clock);
  const queryAudit = createQueryAuditBuffer(audit, clock, app.log);
  const intel = createIntel({ db, clock, logger: app.log, schedule: options.correlation });
  const context: ThreatCloudContext = {
    db,
    clock,
    config,
    keys,
    iocs,
    queries: createIocQueries(db),
    audit,
    queryAudit,
    feeds: createFeedStore(db),
    rules: createRuleStore(db, clock, iocs.store),
    stats: createStatsStore(db, clock),
    campaigns: intel,
    apiKeyGuard: createApiKeyGuard(app, { keys, usage: createUsageStore(db), clock, config }),
    adminGuard: createAdminGuard(app, config),
    searchGuard: createSearchGuard(app, config),
  };

  registerHealth(app, { db, clock, details: Type.Object({ iocs: Type.Integer({ description: 'Active IoCs' }) }), read: () => ({ iocs: iocs.store.activeCount() }) });
  registerKeyAdminRoutes(app, context);
  registerIocRoutes(app, context);
  registerTrapIntelRoutes(app, context);
  registerFeedRoutes(app, context);
  registerAdminRoutes(app, context);
  intel.register(app, context);
  registerConsoleRoutes(app);

  const refresh = createReputationRefresh(db, clock);
  const retention = createAuditRetention(db, clock, { queryDays: config.threatCloud.queryAuditDays, writeDays: config.threatCloud.auditDays });
  let stopRefresh: (() => Promise<void>) | null = null;
  let stopRetention: (() => Promise<void>) | null = null;
  app.addHook('onReady', async () => {
    queryAudit.start();
    stopRefresh = scheduleRefresh(refresh, app.log, options.refreshIntervalMs);
    stopRetention = scheduleAuditRetention(retention, app.log, options.auditPurge);
  });
  app.addHook('onClose', async () => {
    await stopRefresh?.();
    await stopRetention?.();
    if (db.open) queryAudit.stop();
  });
  return app;
}

/** IoCs by status from the trigger-kept counts: a scrape never scans the IoC table. */
function iocsByStatusGauge(db: ServiceDeps['db']) {
  const byStatus = db.prepare<[], { status: string; n: number }>(`SELECT status, sum(n) AS n FROM ioc_counts GROUP BY status`);
  return labelledGauge('panguard_iocs', 'Indicators of compromise by status', 'status', () =>
    Object.fromEntries(byStatus.all().map((row) => [row.status, row.n])),
  );
}
