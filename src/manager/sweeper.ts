import type { Clock } from '../shared/clock.js';
import { toIso } from '../shared/clock.js';
import type { Db } from '../shared/db/open.js';
import type { AgentStore } from './agents-store.js';
import type { SseHub } from './sse-hub.js';
import type { StatusTimeouts } from './status.js';

/** The sweep interval of the contract: min(15 s, heartbeat timeout / 2). */
export function sweepIntervalMs(timeouts: StatusTimeouts): number {
  return Math.min(15_000, Math.floor(timeouts.heartbeatTimeoutMs / 2));
}

/**
 * Stores status transitions online → stale → offline and announces agents that went
 * offline. `sweep()` is callable directly (tests move a ManualClock and sweep).
 */
export function createStatusSweeper(deps: { db: Db; agents: AgentStore; hub: SseHub; clock: Clock; timeouts: StatusTimeouts }) {
  const { agents, hub, clock, timeouts } = deps;
  let timer: NodeJS.Timeout | null = null;
  const transition = deps.db.transaction((now: number) => {
    const nowIso = toIso(now);
    const onlineFrom = now - timeouts.heartbeatTimeoutMs + 1;
    const staleFrom = now - timeouts.offlineTimeoutMs + 1;
    const offline = agents.markOffline(staleFrom, nowIso);
    const stale = agents.markStale(onlineFrom, staleFrom, nowIso);
    return { offline, stale };
  });

  const sweep = () => {
    const { offline, stale } = transition(clock.now());
    for (const agent of offline) {
      hub.publish('agent_offline', { agentId: agent.id, hostname: agent.hostname, lastSeen: toIso(agent.last_heartbeat_ms) });
    }
    return { offline: offline.map((a) => a.id), stale: stale.map((a) => a.id) };
  };

  return {
    sweep,
    start(log: (error: unknown) => void): void {
      if (timer) return;
      timer = setInterval(() => {
        try {
          sweep();
        } catch (error) {
          log(error);
        }
      }, sweepIntervalMs(timeouts));
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

export type StatusSweeper = ReturnType<typeof createStatusSweeper>;
