import { Type } from '@sinclair/typebox';
import { createApiKeyStore } from '../shared/api-keys.js';
import { labelledGauge, serviceMetrics } from '../shared/metrics.js';
import { createBaseApp, type App } from '../shared/base-app.js';
import { registerHealth } from '../shared/health.js';
import { scaled, type ServiceDeps } from '../shared/service-deps.js';
import { createUsageStore } from '../shared/usage.js';
import { VERSION } from '../shared/version.js';
import { ANONYMOUS_LIMIT_PER_MINUTE, createAdminGuard, createApiKeyGuard, createSearchGuard } from './access.js';
import type { ThreatCloudContext } from './context.js';
import { createIntel } from './intel/index.js';
import { createAuditRetention, scheduleAuditRetention, type AuditRetention } from './jobs/audit-retention.js';
import { CORRELATION_JOB, type CorrelationJob, type CorrelationSchedule } from './jobs/correlation.js';
import { createJobLease } from '../shared/job-lease.js';
import { createReputationRefresh, scheduleRefresh, type ReputationRefresh } from './jobs/refresh.js';
import { registerKeyAdminRoutes } from './routes/admin-keys.js';
import { registerAuditLogRoutes } from './routes/audit-log.js';
import { registerConsoleRoutes } from './routes/console.js';
import { registerFeedRoutes } from './routes/feeds.js';
import { registerIocRoutes } from './routes/iocs.js';
import { registerRuleRoutes } from './routes/rules.js';
import { registerSightingRoutes } from './routes/sightings.js';
import { registerStatsRoutes } from './routes/stats.js';
import { registerThreatRoutes } from './routes/threats.js';
import { registerTrapIntelRoutes } from './routes/trap-intel.js';
import { createAgentUpdateService } from './services/agent-update.js';
import { createAuditLogService } from './services/audit-log.js';
import { syncBootstrapKeys } from './services/bootstrap-keys.js';
import { createFeedService } from './services/feeds.js';
import { createIocService } from './services/ioc-merge.js';
import { createIocsService } from './services/iocs.js';
import { createOperatorKeyService } from './services/operator-keys.js';
import { createQueryAuditBuffer } from './services/query-audit.js';
import { createRuleService } from './services/rules.js';
import { createStatsService } from './services/stats.js';
import { createTrapIntelService } from './services/trap-intel.js';
import { createAuditStore } from './stores/audit.js';
import { createFeedStore } from './stores/feeds.js';
import { createIocQueries } from './stores/ioc-queries.js';
import { createRuleStore } from './stores/rules.js';
import { createReputationRefreshStore } from './stores/reputation-refresh.js';
import { createActiveIocCount, createIocStatusCounts, createStatsStore } from './stores/stats.js';
import { createTrapIntelStore } from './stores/trap-intel.js';

export { ANONYMOUS_LIMIT_PER_MINUTE };

export interface ThreatCloudOptions {
  /** Milliseconds between decay refreshes (hourly by default). */
  refreshIntervalMs?: number;
  /** How often campaign correlation looks for new reports (15 s) and runs at the latest (5 min). */
  correlation?: CorrelationSchedule;
  /** When the audit purge first runs after start (30 s), how often then (hourly), and rows per transaction (500). */
  auditPurge?: { firstAfterMs?: number; everyMs?: number; batchSize?: number };
  /** Hands over the background jobs the app runs, to run them on demand (tests, benchmarks). */
  onJobs?: (jobs: ThreatCloudJobs) => void;
}

/** The Threat Cloud's background jobs: the very instances the app schedules. */
export interface ThreatCloudJobs {
  /** Hourly reputation decay and expiry. */
  refresh: ReputationRefresh;
  /** Audit entries past their retention purged, shortly after start and hourly. */
  auditRetention: AuditRetention;
  /** Campaign correlation of new reports, on the correlator trap intel also uses. */
  correlation: CorrelationJob;
}

/**
 * The Threat Cloud: IoCs with reputation, sightings, trap intel, campaigns, feeds, analytics.
 * Wires stores → services → routes; routes are handed services only.
 */
export async function buildThreatCloudApp(deps: ServiceDeps, options: ThreatCloudOptions = {}): Promise<App> {
  const { config, storage, clock } = deps;
  const iocsByStatus = createIocStatusCounts(storage);
  const app = await createBaseApp({
    service: 'threat-cloud',
    title: 'Panguard Threat Cloud',
    description: 'Collective threat intelligence: indicators of compromise, reputation, feeds and analytics.',
    version: VERSION,
    logger: deps.logger,
    https: deps.https,
    trustProxy: config.trustProxy,
    corsAllowedOrigins: config.corsAllowedOrigins,
    rateLimit: { max: scaled(ANONYMOUS_LIMIT_PER_MINUTE, config), redis: deps.redis },
    // IoC values up to 2,048 characters travel percent-encoded in paths.
    maxParamLength: 3 * 2048,
    // IoCs by status from the trigger-kept counts: a scrape never scans the IoC table.
    metrics: serviceMetrics(config.metrics, 'threat-cloud', storage, [labelledGauge('panguard_iocs', 'Indicators of compromise by status', 'status', iocsByStatus)]),
  });

  const keys = createApiKeyStore(storage, clock);
  const synced = await syncBootstrapKeys(storage, keys, config.threatCloud.apiKeys);
  if (synced.added + synced.revoked > 0) app.log.info(synced, 'bootstrap API keys synchronised with TC_API_KEYS');

  // Stores (prepared SQL) and the IoC merge rules every write path shares.
  const merge = createIocService(storage, clock);
  const audit = createAuditStore(storage, clock);
  const feedStore = createFeedStore(storage);
  const ruleStore = createRuleStore(storage, clock, merge.store);
  const queryAudit = createQueryAuditBuffer(audit, clock, app.log);
  const correlationLease = createJobLease(storage, { name: CORRELATION_JOB, clock });
  const intel = createIntel({ storage, clock, logger: app.log, queryAudit, schedule: options.correlation, correlationLease });

  const context: ThreatCloudContext = {
    iocs: createIocsService({ storage, merge, queries: createIocQueries(storage), audit, queryAudit }),
    trapIntel: createTrapIntelService({
      storage,
      clock,
      merge,
      store: createTrapIntelStore(),
      audit,
      correlateNow: intel.correlateNow,
    }),
    feeds: createFeedService({ feeds: feedStore, iocs: merge.store, clock, queryAudit }),
    agentUpdate: createAgentUpdateService({ feeds: feedStore, rules: ruleStore }),
    operatorKeys: createOperatorKeyService({ storage, keys, audit }),
    rules: createRuleService({ storage, rules: ruleStore, audit }),
    auditLog: createAuditLogService({ audit, queryAudit }),
    stats: createStatsService({ stats: createStatsStore(storage, clock), queryAudit }),
    campaigns: intel.campaigns,
    analytics: intel.analytics,
    apiKeyGuard: createApiKeyGuard(app, { storage, keys, usage: createUsageStore(storage), clock, config }),
    adminGuard: createAdminGuard(app, config),
    searchGuard: createSearchGuard(app, config),
  };

  const activeIocs = createActiveIocCount(storage);
  registerHealth(app, { storage, clock, details: Type.Object({ iocs: Type.Integer({ description: 'Active IoCs' }) }), read: async (q) => ({ iocs: await activeIocs(q) }) });
  registerKeyAdminRoutes(app, context);
  registerThreatRoutes(app, context);
  registerIocRoutes(app, context);
  registerSightingRoutes(app, context);
  registerTrapIntelRoutes(app, context);
  registerFeedRoutes(app, context);
  registerRuleRoutes(app, context);
  registerAuditLogRoutes(app, context);
  registerStatsRoutes(app, context);
  intel.register(app, context);
  registerConsoleRoutes(app);

  // Background jobs: started when the app is ready, stopped (and awaited) when it closes.
  const jobs: ThreatCloudJobs = {
    refresh: createReputationRefresh({ storage, iocs: createReputationRefreshStore(storage), clock }),
    auditRetention: createAuditRetention({
      storage,
      audit,
      clock,
      days: { queryDays: config.threatCloud.queryAuditDays, writeDays: config.threatCloud.auditDays },
      batchSize: options.auditPurge?.batchSize,
    }),
    correlation: intel.correlation,
  };
  options.onJobs?.(jobs);
  let stopRefresh: (() => Promise<void>) | null = null;
  let stopRetention: (() => Promise<void>) | null = null;
  app.addHook('onReady', async () => {
    jobs.correlation.start();
    queryAudit.start();
    stopRefresh = scheduleRefresh(jobs.refresh, app.log, options.refreshIntervalMs);
    stopRetention = scheduleAuditRetention(jobs.auditRetention, app.log, options.auditPurge);
  });
  app.addHook('onClose', async () => {
    await jobs.correlation.stop();
    await stopRefresh?.();
    await stopRetention?.();
    if (storage.open) await queryAudit.stop();
  });
  return app;
}
