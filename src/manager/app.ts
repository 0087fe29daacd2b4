import { Type } from '@sinclair/typebox';
import { labelledGauge, serviceMetrics, valueGauge } from '../shared/metrics.js';
import { createBaseApp, type App } from '../shared/base-app.js';
import { registerHealth } from '../shared/health.js';
import { scaled, type ServiceDeps } from '../shared/service-deps.js';
import { VERSION } from '../shared/version.js';
import { createEnrollTokenVerifier } from '../shared/enroll-tokens.js';
import { createAccess } from './access.js';
import { createAgentService, type RegistrationHook } from './services/agents.js';
import { createAgentStore } from './stores/agents.js';
import { createEnrollmentRules } from './services/enrollment.js';
import { createEventService, type IngestHook } from './services/events.js';
import { createEventStore } from './stores/events.js';
import { createOverviewService } from './services/overview.js';
import { createPolicyService } from './services/policies.js';
import { createPolicyStore } from './stores/policies.js';
import { agentRoutes } from './routes/agents.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { overviewRoutes } from './routes/overview.js';
import { policyRoutes } from './routes/policies.js';
import { streamRoutes } from './routes/stream.js';
import { threatRoutes } from './routes/threats.js';
import { createSseHub } from './services/sse-hub.js';
import { createStreamCensus } from './services/stream-census.js';
import { createStreamStore } from './stores/stream.js';
import { createStatusSweeper, type StatusSweeper } from './jobs/sweeper.js';

/** What the app needs from its neighbours (hooks, passed by src/servers.ts) and knobs tests turn. */
export interface ManagerOptions {
  keepaliveMs?: number;
  maxStreams?: number;
  /** Queued bytes after which a stream client counts as too slow and is dropped. */
  maxStreamBufferBytes?: number;
  /** Work inside each event batch's transaction, in order (the process: the Threat Cloud reports). */
  ingestHooks?: IngestHook[];
  /** The locks the ingest hooks' read-then-write needs, held by each event batch's transaction. */
  ingestLocks?: string[];
  /** Checks inside a new agent's registration transaction, in order (the process: the guard_endpoints quota). */
  registrationHooks?: RegistrationHook[];
  /** Hands over the background jobs the app runs, to run them on demand (tests on a ManualClock, benchmarks). */
  onJobs?: (jobs: ManagerJobs) => void;
}

/** The Manager's background jobs: the very instances the app schedules. */
export interface ManagerJobs {
  /** Agent statuses, threat counts and old time-series buckets, every few seconds. */
  sweeper: StatusSweeper;
}

/** The Manager: Guard agents, heartbeats, threat events, policies, live stream, dashboard. */
export async function buildManagerApp(deps: ServiceDeps, options: ManagerOptions = {}): Promise<App> {
  const { config, storage, sqlite, clock } = deps;
  const timeouts = { heartbeatTimeoutMs: config.manager.heartbeatTimeoutMs, offlineTimeoutMs: config.manager.offlineTimeoutMs };

  const agentStore = createAgentStore(storage, sqlite);
  const eventStore = createEventStore(storage);
  const policyStore = createPolicyStore(storage);
  const enrollTokens = createEnrollTokenVerifier(storage, clock);
  const access = createAccess({ agents: agentStore, enrollTokens, authToken: config.manager.authToken, enrollToken: config.manager.enrollToken });

  const app = await createBaseApp({
    service: 'manager',
    title: 'Panguard Manager',
    description: 'Guard agent fleet: registration, heartbeats, threat events, policies and a live event stream.',
    version: VERSION,
    logger: deps.logger,
    https: deps.https,
    trustProxy: config.trustProxy,
    corsAllowedOrigins: config.corsAllowedOrigins,
    rateLimit: { max: scaled(config.manager.rateLimit, config), keyGenerator: access.rateLimitKey, redis: deps.redis },
    metrics: serviceMetrics(config.metrics, 'manager', storage, [
      labelledGauge('panguard_agents', 'Registered agents by status (from the last heartbeat)', 'status', async () => {
        const now = clock.now();
        const { online, stale, offline } = await agentStore.statusCounts(now - timeouts.heartbeatTimeoutMs + 1, now - timeouts.offlineTimeoutMs + 1);
        return { online, stale, offline };
      }),
      // The hub is made once the app exists; a scrape before that sees no client.
      valueGauge('panguard_sse_clients', 'Connected live event-stream clients', () => streamClients()),
    ]),
  });

  let streamClients = () => 0;
  const hub = createSseHub({
    store: createStreamStore(storage),
    clock,
    logger: app.log,
    keepaliveMs: options.keepaliveMs ?? 30_000,
    maxClients: options.maxStreams ?? 1000,
    ...(deps.redis ? { census: createStreamCensus(deps.redis) } : {}),
    maxBufferedBytes: options.maxStreamBufferBytes ?? 1024 * 1024,
  });
  streamClients = () => hub.size;
  const sweeper = createStatusSweeper({ storage, agents: agentStore, hub, clock, timeouts });
  options.onJobs?.({ sweeper });

  const agents = createAgentService({
    storage,
    clock,
    timeouts,
    agents: agentStore,
    events: eventStore,
    policies: policyStore,
    hub,
    enrollment: createEnrollmentRules(enrollTokens),
    registrationHooks: options.registrationHooks ?? [],
  });
  const events = createEventService({ storage, clock, events: eventStore, hub, hooks: options.ingestHooks ?? [], locks: options.ingestLocks ?? [] });
  const policies = createPolicyService({ storage, clock, timeouts, policies: policyStore, hub });
  const overview = createOverviewService({ clock, timeouts, agents: agentStore, events: eventStore, policies: policyStore });
  const { guards } = access;

  registerHealth(app, {
    storage,
    clock,
    details: Type.Object({ agents: Type.Object({ total: Type.Integer(), online: Type.Integer() }) }),
    read: async (q) => ({ agents: await overview.agentCounts(q) }),
  });
  agentRoutes(app, { access, agents, events });
  threatRoutes(app, { guards, events });
  policyRoutes(app, { guards, agents, policies });
  streamRoutes(app, { guards, hub });
  overviewRoutes(app, { guards, overview });
  dashboardRoutes(app);

  app.addHook('onReady', async () => {
    hub.start();
    sweeper.start(app.log);
  });
  app.addHook('preClose', async () => {
    sweeper.stop();
    hub.close();
  });
  app.addHook('onClose', async () => {
    sweeper.stop();
    // Requests finished before this, so nothing should wait; written anyway if something does.
    await agents.flushHeartbeats();
    agentStore.close();
  });
  return app;
}
