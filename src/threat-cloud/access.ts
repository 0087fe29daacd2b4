import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResolvedConfig } from '../config.js';
import type { ApiKeyStore, KeyScope, VerifiedKey } from '../shared/api-keys.js';
import type { App } from '../shared/base-app.js';
import type { Clock } from '../shared/clock.js';
import type { Storage } from '../shared/db/storage.js';
import { forbidden, tooManyRequests, unauthorized } from '../shared/errors.js';
import { scaled } from '../shared/service-deps.js';
import { bearerToken, safeEqual } from '../shared/tokens.js';
import { QUOTAS, TIERS, monthPeriod, quotaExceededMessage, tierAtLeast, type Tier } from '../shared/tiers.js';
import type { UsageStore } from '../shared/usage.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The Threat Cloud API key that authenticated this request. */
    tcKey?: VerifiedKey;
  }
  interface FastifyContextConfig {
    /** Threat Cloud scope a route needs. */
    tcScope?: KeyScope;
    /** Threat Cloud tier a route needs. */
    tcMinTier?: Tier;
  }
}

/** Requests per minute per key, by the key's tier (before TC_TIER_LIMITS and RATE_LIMIT_SCALE). */
export const DEFAULT_TIER_LIMITS: Record<Tier, number> = { community: 60, solo: 120, pro: 600, business: 1200, enterprise: 6000 };
/** Requests without a valid key, per IP per minute: keys cannot be guessed quickly. */
export const ANONYMOUS_LIMIT_PER_MINUTE = 30;

export function tierLimits(config: ResolvedConfig): Record<Tier, number> {
  const limits = { ...DEFAULT_TIER_LIMITS, ...config.threatCloud.tierLimits };
  return Object.fromEntries(TIERS.map((tier) => [tier, scaled(limits[tier], config)])) as Record<Tier, number>;
}

type Limiter = ReturnType<App['createRateLimit']>;

/** Sends the limit headers and, past the limit, the contract's 429. */
async function enforce(limiter: Limiter, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const result = await limiter(request);
  if (result.isAllowed) return;
  reply.header('x-ratelimit-limit', String(result.max));
  reply.header('x-ratelimit-remaining', String(result.remaining));
  reply.header('x-ratelimit-reset', String(result.ttlInSeconds));
  if (result.isExceeded) {
    throw tooManyRequests(result.ttlInSeconds);
  }
}

/**
 * Access control of the `/api/*` routes, as one preValidation hook so that failed
 * attempts are counted and throttled before any body is looked at:
 * key → (invalid: per-IP limit, 401) → per-key limit by tier → suspended owner → scope →
 * tier → monthly api_calls quota of user keys.
 */
export function createApiKeyGuard(app: App, deps: { storage: Storage; keys: ApiKeyStore; usage: UsageStore; clock: Clock; config: ResolvedConfig }) {
  const limits = tierLimits(deps.config);
  const anonymous = app.createRateLimit({
    max: scaled(ANONYMOUS_LIMIT_PER_MINUTE, deps.config),
    timeWindow: 60_000,
    keyGenerator: (request) => `tc-ip:${request.ip}`,
  });
  const perKey = app.createRateLimit({
    max: (request) => limits[request.tcKey?.tier ?? 'community'],
    timeWindow: 60_000,
    keyGenerator: (request) => `tc-key:${request.tcKey?.id ?? request.ip}`,
  });

  return async function apiKeyGuard(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization;
    const secret = bearerToken(header);
    const key = secret ? await deps.keys.verify(secret) : null;
    if (!key) {
      await enforce(anonymous, request, reply);
      throw unauthorized(header ? 'Invalid API key' : 'API key required');
    }
    request.tcKey = key;
    await enforce(perKey, request, reply);
    if (key.ownerSuspended) throw forbidden('Account suspended');
    // One read of routeOptions: Fastify builds a new object on every access.
    const { tcScope: scope, tcMinTier: minTier } = request.routeOptions.config;
    // User keys never carry admin, whatever was stored for them.
    const scopes = key.origin === 'user' ? key.scopes.filter((granted) => granted !== 'admin') : key.scopes;
    if (scope && !scopes.includes(scope)) throw forbidden(`Missing scope: ${scope}`);
    if (minTier && !tierAtLeast(key.tier, minTier)) throw forbidden(`This endpoint requires the ${minTier} tier or higher`);
    if (key.origin === 'user' && key.ownerUserId) {
      const allowed = await deps.usage.consume(deps.storage, key.ownerUserId, 'api_calls', monthPeriod(deps.clock.now()), QUOTAS[key.tier].api_calls);
      if (!allowed) throw forbidden(quotaExceededMessage('api_calls', key.tier));
    }
  };
}

/** A key's searches (`since` or `q` on the IoC list) per minute are its tier's limit divided by this. */
export const SEARCH_LIMIT_DIVISOR = 6;

/**
 * The per-key cost limit of IoC searches: `since` and `q` are ranges the list's indexes do
 * not order, so a broad search over a sparse match walks up to every IoC (in steps that keep
 * the event loop free, but still CPU the other services share). Counted apart from, and on
 * top of, the key's own limit; the headers then describe this one.
 */
export function createSearchGuard(app: App, config: ResolvedConfig) {
  const limits = tierLimits(config);
  const limiter = app.createRateLimit({
    max: (request) => Math.max(1, Math.floor(limits[request.tcKey?.tier ?? 'community'] / SEARCH_LIMIT_DIVISOR)),
    timeWindow: 60_000,
    keyGenerator: (request) => `tc-search:${request.tcKey?.id ?? request.ip}`,
  });
  return (request: FastifyRequest, reply: FastifyReply): Promise<void> => enforce(limiter, request, reply);
}

/**
 * Operator routes: only TC_ADMIN_TOKEN (compared timing-safe); every attempt counts
 * against the per-IP limit so the token cannot be guessed.
 */
export function createAdminGuard(app: App, config: ResolvedConfig) {
  const limiter = app.createRateLimit({
    max: scaled(ANONYMOUS_LIMIT_PER_MINUTE, config),
    timeWindow: 60_000,
    keyGenerator: (request) => `tc-admin:${request.ip}`,
  });
  return async function adminGuard(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await enforce(limiter, request, reply);
    const token = bearerToken(request.headers.authorization);
    if (!token) throw unauthorized('Admin token required');
    if (!safeEqual(token, config.threatCloud.adminToken)) throw unauthorized('Invalid admin token');
  };
}
