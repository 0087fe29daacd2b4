import { monthPeriod, QUOTAS, RESOURCE_PERIOD, RESOURCES, UNLIMITED, type Resource, type Tier } from '../../shared/tiers.js';
import type { AuthContext } from '../context.js';

/** Usage as the server recorded it (Threat Cloud calls, agents, keys), against the tier's quota. */
export function createUsageReport(ctx: AuthContext) {
  function current(userId: string, resource: Resource): number {
    switch (resource) {
      case 'guard_endpoints':
        return ctx.orgData.countAgents(userId);
      case 'api_keys':
        return ctx.apiKeys.countActiveByOwner(userId);
      default:
        return ctx.usage.current(userId, resource, monthPeriod(ctx.clock.now()));
    }
  }

  function line(userId: string, tier: Tier, resource: Resource) {
    const limit = QUOTAS[tier][resource];
    const used = current(userId, resource);
    const unlimited = limit === UNLIMITED;
    return {
      resource,
      current: used,
      limit,
      remaining: unlimited ? UNLIMITED : Math.max(0, limit - used),
      percentage: unlimited ? 0 : limit === 0 ? (used > 0 ? 100 : 0) : Math.round((used / limit) * 10_000) / 100,
    };
  }

  return {
    summary(userId: string, tier: Tier) {
      return { tier, period: monthPeriod(ctx.clock.now()), resources: RESOURCES.map((r) => line(userId, tier, r)) };
    },
    limits(tier: Tier) {
      return { tier, limits: { ...QUOTAS[tier] } };
    },
    check(userId: string, tier: Tier, resource: Resource, amount: number) {
      const { current: used, limit, remaining } = line(userId, tier, resource);
      return { allowed: limit === UNLIMITED || used + amount <= limit, current: used, limit, remaining };
    },
    /** Every counter of the user plus the current lifetime counts: export and admin detail. */
    history(userId: string, tier: Tier) {
      const monthly = ctx.usageCounters.listOf(userId).map((row) => ({
        resource: row.resource as Resource,
        period: row.period,
        current: row.count,
        limit: QUOTAS[tier][row.resource as Resource] ?? UNLIMITED,
      }));
      const lifetime = RESOURCES.filter((r) => RESOURCE_PERIOD[r] === 'lifetime').map((resource) => ({
        resource,
        period: 'lifetime',
        current: current(userId, resource),
        limit: QUOTAS[tier][resource],
      }));
      return [...lifetime, ...monthly];
    },
  };
}
export type UsageReport = ReturnType<typeof createUsageReport>;
