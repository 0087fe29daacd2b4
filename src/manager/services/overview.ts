import type { Queryable } from '../../shared/db/storage.js';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { AgentStore } from '../stores/agents.js';
import { policyVersionName } from './agents.js';
import { PERIOD_MS } from '../../shared/time.js';
import { emptySeverityCounts } from './events.js';
import type { EventStore } from '../stores/events.js';
import type { PolicyStore } from '../stores/policies.js';
import { SEVERITIES, type Overview } from '../schemas.js';
import type { StatusTimeouts } from './status.js';
import type { ThreatCountView } from '../stores/threat-counts.js';

/** The fleet at a glance, from kept counts and index range counts (no per-agent or per-event work). */
export function createOverviewService(deps: { clock: Clock; timeouts: StatusTimeouts; agents: AgentStore; events: EventStore; policies: PolicyStore }) {
  const { clock, timeouts, agents, events, policies } = deps;

  const severitySummary = async (counts: ThreatCountView) => {
    const summary = { total: 0, ...emptySeverityCounts() };
    for (const severity of SEVERITIES) {
      summary[severity] = await counts.count('severity', severity);
      summary.total += summary[severity];
    }
    return summary;
  };

  return {
    async overview(): Promise<Overview> {
      const now = clock.now();
      const counts = await agents.statusCounts(now - timeouts.heartbeatTimeoutMs + 1, now - timeouts.offlineTimeoutMs + 1);
      const active = await policies.newestGlobal();
      const { last24h, last7d, topThreats } = await events.periods(async (period) => {
        const week = await period('7d', now - PERIOD_MS['7d']);
        return { last24h: await severitySummary(await period('24h', now - PERIOD_MS['24h'])), last7d: await severitySummary(week), topThreats: await week.top('type', 5) };
      });
      const byOs = await agents.countByOs();
      return {
        totalAgents: counts.total,
        onlineAgents: counts.online,
        staleAgents: counts.stale,
        offlineAgents: counts.offline,
        threatSummary: { last24h, last7d },
        activePolicyVersion: active ? policyVersionName(active.version) : null,
        topThreats: topThreats.map((row) => ({ type: row.key, count: row.n })),
        agentsByOs: Object.fromEntries(byOs.map((row) => [row.os, row.n])),
        updatedAt: toIso(now),
      };
    },
    /** What /health reports. */
    async agentCounts(q?: Queryable) {
      const now = clock.now();
      const counts = await agents.statusCounts(now - timeouts.heartbeatTimeoutMs + 1, now - timeouts.offlineTimeoutMs + 1, q);
      return { total: counts.total, online: counts.online };
    },
  };
}

export type OverviewService = ReturnType<typeof createOverviewService>;
