import jwt from '@fastify/jwt';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { serviceMetrics } from '../shared/metrics.js';
import { createBaseApp, type App } from '../shared/base-app.js';
import { registerHealth } from '../shared/health.js';
import { scaled, type ServiceDeps } from '../shared/service-deps.js';
import { VERSION } from '../shared/version.js';
import { createGuards, createTokenIssuer, decoratePrincipal } from './authenticate.js';
import { createAuthContext, type AuthAppOptions } from './context.js';
import { createMaintenance } from './jobs/maintenance.js';
import { registerPublicAccountRoutes, registerSessionAccountRoutes } from './routes/account.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerApiKeyRoutes } from './routes/api-keys.js';
import { registerBillingRoutes, registerWebhookRoute } from './routes/billing.js';
import { registerEnrollTokenRoutes } from './routes/enroll-tokens.js';
import { registerTotpRoutes } from './routes/totp.js';
import { registerUsageRoutes } from './routes/usage.js';
import { createAccounts } from './services/accounts.js';
import { createAdmin } from './services/admin.js';
import { createUserApiKeys } from './services/api-keys.js';
import { createBilling } from './services/billing.js';
import { createUserEnrollTokens } from './services/enroll-tokens.js';
import { createGdpr } from './services/gdpr.js';
import type { AuthServices } from './services/index.js';
import { createPasswords } from './services/passwords.js';
import { createSecondFactor } from './services/second-factor.js';
import { createUserSessions } from './services/sessions.js';
import { createUsageReport } from './services/usage.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Resolves once the work routes do after answering (reset links, notices) is done (tests). */
    authSettled?: () => Promise<void>;
  }
}

/** The Auth Server: accounts, sessions, two-factor, GDPR, subscriptions, administration. */
export async function buildAuthApp(deps: ServiceDeps, options: AuthAppOptions = {}): Promise<App> {
  const { config, storage, clock } = deps;
  const app = await createBaseApp({
    service: 'auth',
    title: 'Panguard Auth Server',
    description: 'Accounts, JWT sessions, two-factor authentication, GDPR rights, subscriptions and administration.',
    version: VERSION,
    logger: deps.logger,
    https: deps.https,
    trustProxy: config.trustProxy,
    corsAllowedOrigins: config.corsAllowedOrigins,
    rateLimit: { max: scaled(config.auth.rateLimit, config), redis: deps.redis },
    metrics: serviceMetrics(config.metrics, 'auth', storage),
  });
  registerHealth(app, {
    storage,
    clock,
    details: Type.Object({ db: Type.Literal('connected') }),
    read: () => ({ db: 'connected' as const }),
  });

  await app.register(jwt, {
    secret: config.auth.jwtSecret,
    sign: { algorithm: 'HS256' },
    // The dates are checked in principalOf, on the service clock. Given that clock per call,
    // the plugin built a new verifier and key object for every request (the token check took
    // 25 µs of a /me request's CPU in the profile, 8 µs with one verifier for all).
    verify: { algorithms: ['HS256'], ignoreExpiration: true, ignoreNotBefore: true },
  });
  decoratePrincipal(app);

  const ctx = createAuthContext({ storage, config, clock, logger: deps.logger ?? pino({ level: 'silent' }) }, options);
  const tokens = createTokenIssuer(app, ctx);
  const secondFactor = createSecondFactor(ctx);
  const usageReport = createUsageReport(ctx);
  const billing = createBilling(ctx);
  const services: AuthServices = {
    limits: ctx.limits,
    guards: createGuards(tokens),
    accounts: createAccounts(ctx, tokens, secondFactor),
    passwords: createPasswords(ctx, secondFactor),
    sessions: createUserSessions(ctx),
    gdpr: createGdpr(ctx, secondFactor, usageReport),
    secondFactor,
    usageReport,
    billing,
    admin: createAdmin(ctx, { secondFactor, usageReport }),
    apiKeys: createUserApiKeys(ctx),
    enrollTokens: createUserEnrollTokens(ctx),
  };

  registerPublicAccountRoutes(app, services);
  await registerWebhookRoute(app, services);
  await app.register(async (signedIn) => {
    signedIn.addHook('preValidation', services.guards.requireSession);
    registerSessionAccountRoutes(signedIn, services);
    registerTotpRoutes(signedIn, services);
    registerApiKeyRoutes(signedIn, services);
    registerEnrollTokenRoutes(signedIn, services);
    registerBillingRoutes(signedIn, services);
    registerUsageRoutes(signedIn, services);
  });
  await app.register(async (admins) => {
    admins.addHook('preValidation', services.guards.requireAdmin);
    registerAdminRoutes(admins, services);
  });

  const maintenance = createMaintenance(ctx, billing);
  options.onJobs?.({ maintenance });
  app.decorate('authSettled', () => ctx.afterResponse.settled());
  app.addHook('onReady', async () => {
    maintenance.start();
    await ctx.mailer.resumePending();
  });
  app.addHook('onClose', async () => {
    maintenance.stop();
    // Work queued after an answer may still mail; it finishes before the mailer and the database close.
    await ctx.afterResponse.settled();
    await ctx.mailer.close();
  });
  return app;
}
