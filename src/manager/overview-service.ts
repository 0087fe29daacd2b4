import type { Clock } from '../shared/clock.js';
import { toIso } from '../shared/clock.js';
import type { AgentStore } from './agents-store.js';
import { policyVersionName } from './agents-service.js';
import { emptySeverityCounts, PERIOD_MS } from './events-service.js';
import type { EventStore } from './events-store.js';
import type { PolicyStore } from './policies-store.js';
import type { Overview, Severity } from './schemas.js';
import type { StatusTimeouts } from './status.js';

/** The fleet at a glance, from a handful of aggregate queries (no per-agent work). */
export function createOverviewService(deps: { clock: Clock; timeouts: StatusTimeouts; agents: AgentStore; events: EventStore; policies: PolicyStore }) {
  const { clock, timeouts, agents, events, policies } = deps;

  const severitySummary = (sinceMs: number) => {
    const counts = { total: 0, ...emptySeverityCounts() };
    for (const row of events.countBySeverity(sinceMs)) {
      counts[row.key as Severity] = row.n;
      counts.total += row.n;
    }
    return counts;
  };

  return {
    overview(): Overview {
      const now = clock.now();
      const counts = agents.statusCounts(now - timeouts.heartbeatTimeoutMs + 1, now - timeouts.offlineTimeoutMs + 1);
      const active = policies.newestGlobal();
      return {
        totalAgents: counts.total,
        onlineAgents: counts.online,
        staleAgents: counts.stale,
        offlineAgents: counts.offline,
        threatSummary: { last24h: severitySummary(now - PERIOD_MS['24h']), last7d: severitySummary(now - PERIOD_MS['7d']) },
        activePolicyVersion: active ? policyVersionName(active.version) : null,
        topThreats: events.countByType(now - PERIOD_MS['7d'], 5).map((row) => ({ type: row.key, count: row.n })),
        agentsByOs: Object.fromEntries(agents.countByOs().map((row) => [row.os, row.n])),
        updatedAt: toIso(now),
      };
    },
    /** What /health reports. */
    agentCounts() {
      const now = clock.now();
      const counts = agents.statusCounts(now - timeouts.heartbeatTimeoutMs + 1, now - timeouts.offlineTimeoutMs + 1);
      return { total: counts.total, online: counts.online };
    },
  };
}

export type OverviewService = ReturnType<typeof createOverviewService>;
