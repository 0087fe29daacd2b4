import { monthPeriod, QUOTAS, RESOURCE_PERIOD, RESOURCES, UNLIMITED, type Resource, type Tier } from '../../shared/tiers.js';
import type { AuthContext } from '../context.js';

/** Usage as the server recorded it (Threat Cloud calls, agents, keys), against the tier's quota. */
export function createUsageReport(ctx: AuthContext) {
  async function current(userId: string, resource: Resource): Promise<number> {
    switch (resource) {
      case 'guard_endpoints':
        return ctx.orgData.countAgents(userId);
      case 'api_keys':
        return ctx.apiKeys.countActiveByOwner(ctx.storage, userId);
      default:
        return ctx.usage.current(userId, resource, monthPeriod(ctx.clock.now()));
    }
  }

  async function line(userId: string, tier: Tier, resource: Resource) {
    const limit = QUOTAS[tier][resource];
    const used = await current(userId, resource);
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
    async summary(userId: string, tier: Tier) {
      const period = monthPeriod(ctx.clock.now());
      const resources = [];
      for (const resource of RESOURCES) resources.push(await line(userId, tier, resource));
      return { tier, period, resources };
    },
    limits(tier: Tier) {
      return { tier, limits: { ...QUOTAS[tier] } };
    },
    async check(userId: string, tier: Tier, resource: Resource, amount: number) {
      const { current: used, limit, remaining } = await line(userId, tier, resource);
      return { allowed: limit === UNLIMITED || used + amount <= limit, current: used, limit, remaining };
    },
    /** Every counter of the user plus the current lifetime counts: export and admin detail. */
    async history(userId: string, tier: Tier) {
      const monthly = (await ctx.usageCounters.listOf(userId)).map((row) => ({
        resource: row.resource as Resource,
        period: row.period,
        current: row.count,
        limit: QUOTAS[tier][row.resource as Resource] ?? UNLIMITED,
      }));
      const lifetime = [];
      for (const resource of RESOURCES.filter((r) => RESOURCE_PERIOD[r] === 'lifetime')) {
        lifetime.push({ resource, period: 'lifetime', current: await current(userId, resource), limit: QUOTAS[tier][resource] });
      }
      return [...lifetime, ...monthly];
    },
  };
}
export type UsageReport = ReturnType<typeof createUsageReport>;
