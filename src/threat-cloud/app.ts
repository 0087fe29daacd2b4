import { Type } from '@sinclair/typebox';
import { createBaseApp, type App } from '../shared/base-app.js';
import { registerHealth } from '../shared/health.js';
import { scaled, type ServiceDeps } from '../shared/service-deps.js';
import { VERSION } from '../shared/version.js';

/** Requests without a valid key, per IP per minute: keys cannot be guessed quickly. */
export const ANONYMOUS_LIMIT_PER_MINUTE = 30;

/** The Threat Cloud: IoCs with reputation, sightings, trap intel, campaigns, feeds, analytics. */
export async function buildThreatCloudApp(deps: ServiceDeps): Promise<App> {
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
  });
  registerHealth(app, { db, clock, details: Type.Object({}), read: () => ({}) });
  return app;
}
