import type { AgentStatus } from '../schemas.js';

export interface StatusTimeouts {
  heartbeatTimeoutMs: number;
  offlineTimeoutMs: number;
}

/** Status at `now` of an agent last heard from at `lastHeartbeatMs`. */
export function statusAt(lastHeartbeatMs: number, now: number, timeouts: StatusTimeouts): AgentStatus {
  const age = now - lastHeartbeatMs;
  if (age < timeouts.heartbeatTimeoutMs) return 'online';
  if (age < timeouts.offlineTimeoutMs) return 'stale';
  return 'offline';
}

/**
 * The half-open range `[from, to)` of last-heartbeat times that have a status at `now`,
 * so a status filter is an indexed range on `last_heartbeat_ms`. null: unbounded.
 */
export function heartbeatRange(status: AgentStatus, now: number, timeouts: StatusTimeouts): { from: number | null; to: number | null } {
  const onlineFrom = now - timeouts.heartbeatTimeoutMs + 1;
  const staleFrom = now - timeouts.offlineTimeoutMs + 1;
  if (status === 'online') return { from: onlineFrom, to: null };
  if (status === 'stale') return { from: staleFrom, to: onlineFrom };
  return { from: null, to: staleFrom };
}
