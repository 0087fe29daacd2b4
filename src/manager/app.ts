import { Type } from '@sinclair/typebox';
import { createBaseApp, type App } from '../shared/base-app.js';
import { registerHealth } from '../shared/health.js';
import { scaled, type ServiceDeps } from '../shared/service-deps.js';
import { VERSION } from '../shared/version.js';

/** The Manager: Guard agents, heartbeats, threat events, policies, live stream, dashboard. */
export async function buildManagerApp(deps: ServiceDeps): Promise<App> {
  const { config, db, clock } = deps;
  const app = await createBaseApp({
    service: 'manager',
    title: 'Panguard Manager',
    description: 'Guard agent fleet: registration, heartbeats, threat events, policies and a live event stream.',
    version: VERSION,
    logger: deps.logger,
    https: deps.https,
    trustProxy: config.trustProxy,
    corsAllowedOrigins: config.corsAllowedOrigins,
    rateLimit: { max: scaled(config.manager.rateLimit, config) },
  });
  registerHealth(app, { db, clock, details: Type.Object({}), read: () => ({}) });
  return app;
}
