import { isIP } from 'node:net';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Transaction, Storage } from '../../shared/db/storage.js';
import { badRequest } from '../../shared/errors.js';
import { MINUTE_MS, PERIOD_MS } from '../../shared/time.js';
import { newId } from '../../shared/tokens.js';
import type { AgentRow } from '../stores/agents.js';
import type { EventRow, EventStore } from '../stores/events.js';
import { SEVERITIES, type EventInput, type Severity, type SummaryPeriod, type Threat, type ThreatQuery, type ThreatSummary, type ThreatTimeseries } from '../schemas.js';
import type { SseHub } from './sse-hub.js';

const MAX_DETAILS_BYTES = 16 * 1024;
const MAX_FUTURE_MS = 5 * MINUTE_MS;
const SOURCE_IP_KEYS = ['sourceIp', 'source_ip', 'srcIp', 'remoteAddress'] as const;
const TOP = 10;

/**
 * Runs inside the ingestion transaction, on its `tx`, after the batch rows are written, so
 * whatever it stores (e.g. Threat Cloud IP reports) commits or rolls back with the batch.
 */
export type IngestHook = (tx: Transaction, agent: AgentRow, rows: readonly EventRow[]) => Promise<void>;

/** The first of the keys agents use for the remote address, when it is an IP address. */
export function sourceIpOf(details: Record<string, unknown>): string | null {
  for (const key of SOURCE_IP_KEYS) {
    const value = details[key];
    if (typeof value === 'string' && isIP(value) !== 0) return value;
  }
  return null;
}

export function emptySeverityCounts(): Record<Severity, number> {
  return { low: 0, medium: 0, high: 0, critical: 0 };
}

function toThreat(row: EventRow): Threat {
  return {
    id: row.id,
    agentId: row.agent_id,
    hostname: row.hostname,
    type: row.type,
    severity: row.severity as Severity,
    confidence: row.confidence,
    details: JSON.parse(row.details) as Record<string, unknown>,
    ruleId: row.rule_id,
    timestamp: row.timestamp,
    receivedAt: row.received_at,
  };
}

/** Threat event ingestion (all or nothing per batch), queries and the period summary. */
export function createEventService(deps: { storage: Storage; clock: Clock; events: EventStore; hub: SseHub; hooks?: IngestHook[]; locks?: string[] }) {
  const { storage, clock, events, hub } = deps;
  const hooks = deps.hooks ?? [];
  const batch = { durable: false, locks: deps.locks ?? [] };

  const store = (agent: AgentRow, rows: EventRow[]) =>
    storage.transaction(batch, async (tx) => {
      await events.insertBatch(tx, rows);
      for (const hook of hooks) await hook(tx, agent, rows);
    });

  /** Checks the schema cannot express, naming the item; nothing is stored on failure. */
  const toRows = (agent: AgentRow, inputs: EventInput[], now: number): EventRow[] =>
    inputs.map((input, index) => {
      const details = JSON.stringify(input.details);
      if (Buffer.byteLength(details) > MAX_DETAILS_BYTES) {
        throw badRequest(`events[${index}].details must be at most 16 KiB serialised`, 'VALIDATION_ERROR');
      }
      const timestampMs = input.timestamp === undefined ? now : Date.parse(input.timestamp);
      if (Number.isNaN(timestampMs)) throw badRequest(`events[${index}].timestamp must be an ISO 8601 date-time`, 'VALIDATION_ERROR');
      if (timestampMs > now + MAX_FUTURE_MS) {
        throw badRequest(`events[${index}].timestamp must not be more than 5 minutes in the future`, 'VALIDATION_ERROR');
      }
      return {
        id: newId('evt_'),
        agent_id: agent.id,
        org_id: agent.org_id,
        hostname: agent.hostname,
        type: input.type,
        severity: input.severity,
        confidence: input.confidence ?? null,
        rule_id: input.ruleId ?? null,
        details,
        source_ip: sourceIpOf(input.details),
        timestamp: toIso(timestampMs),
        timestamp_ms: timestampMs,
        received_at: toIso(now),
      };
    });

  return {
    async ingest(agent: AgentRow, inputs: EventInput[]) {
      const rows = toRows(agent, inputs, clock.now());
      await store(agent, rows);
      const maxSeverity = SEVERITIES[Math.max(...rows.map((row) => SEVERITIES.indexOf(row.severity as Severity)))]!;
      await hub.publish('threats_reported', { agentId: agent.id, hostname: agent.hostname, count: rows.length, maxSeverity });
      return { received: rows.length, eventIds: rows.map((row) => row.id) };
    },

    async query(query: ThreatQuery) {
      const limit = query.limit ?? 50;
      const page = query.page ?? 1;
      const { rows, total } = await events.page(
        {
          ...(query.since === undefined ? {} : { sinceMs: Date.parse(query.since) }),
          ...(query.until === undefined ? {} : { untilMs: Date.parse(query.until) }),
          ...(query.org_id === undefined ? {} : { orgId: query.org_id }),
          ...(query.agent_id === undefined ? {} : { agentId: query.agent_id }),
          ...(query.severity === undefined ? {} : { severity: query.severity }),
          ...(query.type === undefined ? {} : { type: query.type }),
        },
        limit,
        (page - 1) * limit,
      );
      return { items: rows.map(toThreat), total, page, limit };
    },

    async summary(period: SummaryPeriod, orgId?: string): Promise<ThreatSummary> {
      const bySeverity = emptySeverityCounts();
      let total = 0;
      // Every count of the answer from one state: they add up even while the sweeper commits.
      const { byType, topAgents, topSourceIps } = await events.periods(async (periodCounts) => {
        const counts = await periodCounts(period, clock.now() - PERIOD_MS[period], orgId);
        for (const severity of SEVERITIES) {
          bySeverity[severity] = await counts.count('severity', severity);
          total += bySeverity[severity];
        }
        return { byType: await counts.top('type', 100), topAgents: await counts.top('agent', TOP), topSourceIps: await counts.top('ip', TOP) };
      });
      return {
        period,
        total,
        bySeverity,
        byType: Object.fromEntries(byType.map((row) => [row.key, row.n])),
        topAgents: topAgents.map((row) => ({ agentId: row.key, hostname: row.label ?? '', count: row.n })),
        topSourceIps: topSourceIps.map((row) => ({ ip: row.key, count: row.n })),
      };
    },

    /** Events per bucket over a period: the same events its summary counts (see threat-buckets.ts). */
    async timeseries(period: SummaryPeriod, orgId?: string): Promise<ThreatTimeseries> {
      return { period, ...(await events.series(period, clock.now(), orgId)) };
    },
  };
}

export type EventService = ReturnType<typeof createEventService>;
