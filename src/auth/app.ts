import { Type } from '@sinclair/typebox';
import { createBaseApp, type App } from '../shared/base-app.js';
import { registerHealth } from '../shared/health.js';
import { scaled, type ServiceDeps } from '../shared/service-deps.js';
import { VERSION } from '../shared/version.js';

/** The Auth Server: accounts, sessions, two-factor, GDPR, subscriptions, administration. */
export async function buildAuthApp(deps: ServiceDeps): Promise<App> {
  const { config, db, clock } = deps;
  const app = await createBaseApp({
    service: 'auth',
    title: 'Panguard Auth Server',
    description: 'Accounts, JWT sessions, two-factor authentication, GDPR rights, subscriptions and administration.',
    version: VERSION,
    logger: deps.logger,
    https: deps.https,
    trustProxy: config.trustProxy,
    corsAllowedOrigins: config.corsAllowedOrigins,
    rateLimit: { max: scaled(config.auth.rateLimit, config) },
  });
  registerHealth(app, {
    db,
    clock,
    details: Type.Object({ db: Type.Literal('connected') }),
    read: () => ({ db: 'connected' as const }),
  });
  return app;
}
