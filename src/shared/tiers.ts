import { toIso } from './clock.js';

/** Subscription tiers, lowest first; the order is what `atLeast` compares. */
export const TIERS = ['community', 'solo', 'pro', 'business', 'enterprise'] as const;
export type Tier = (typeof TIERS)[number];

export const RESOURCES = ['api_calls', 'guard_endpoints', 'api_keys', 'reports'] as const;
export type Resource = (typeof RESOURCES)[number];

/** Monthly resources reset each calendar month (UTC); the others count what exists now. */
export const RESOURCE_PERIOD: Record<Resource, 'month' | 'lifetime'> = {
  api_calls: 'month',
  guard_endpoints: 'lifetime',
  api_keys: 'lifetime',
  reports: 'month',
};

/** -1 means unlimited, as GET /api/usage/limits reports it. */
export const UNLIMITED = -1;

export const QUOTAS: Record<Tier, Record<Resource, number>> = {
  community: { api_calls: 1_000, guard_endpoints: 1, api_keys: 1, reports: 0 },
  solo: { api_calls: 10_000, guard_endpoints: 3, api_keys: 2, reports: 0 },
  pro: { api_calls: 50_000, guard_endpoints: 10, api_keys: 5, reports: 5 },
  business: { api_calls: UNLIMITED, guard_endpoints: 25, api_keys: 20, reports: 20 },
  enterprise: { api_calls: UNLIMITED, guard_endpoints: UNLIMITED, api_keys: UNLIMITED, reports: UNLIMITED },
};

export function isTier(value: unknown): value is Tier {
  return typeof value === 'string' && (TIERS as readonly string[]).includes(value);
}

export function tierAtLeast(tier: Tier, minimum: Tier): boolean {
  return TIERS.indexOf(tier) >= TIERS.indexOf(minimum);
}

/** The quota message of the contract, shared by every service that enforces a quota. */
export function quotaExceededMessage(resource: Resource, tier: Tier): string {
  return `Quota exceeded for ${resource} on the ${tier} tier`;
}

/** `YYYY-MM` of a timestamp in UTC: the key of monthly usage counters, on every keyed request. */
export function monthPeriod(epochMs: number): string {
  return toIso(epochMs).slice(0, 7);
}
