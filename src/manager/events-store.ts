import type { Db } from '../shared/db/open.js';
import type { Statement } from 'better-sqlite3';

export interface EventRow {
  id: string;
  agent_id: string;
  org_id: string;
  hostname: string;
  type: string;
  severity: string;
  confidence: number | null;
  rule_id: string | null;
  details: string;
  source_ip: string | null;
  timestamp: string;
  timestamp_ms: number;
  received_at: string;
}

export interface ThreatFilter {
  sinceMs?: number;
  untilMs?: number;
  orgId?: string;
  agentId?: string;
  severity?: string;
  type?: string;
}

/** Fixed SQL fragments of the threat filters; a query is built only from these. */
const FILTERS: Record<keyof ThreatFilter, string> = {
  sinceMs: 'timestamp_ms >= @sinceMs',
  untilMs: 'timestamp_ms <= @untilMs',
  orgId: 'org_id = @orgId',
  agentId: 'agent_id = @agentId',
  severity: 'severity = @severity',
  type: 'type = @type',
};
const FILTER_KEYS = Object.keys(FILTERS) as (keyof ThreatFilter)[];

export interface CountRow {
  key: string;
  n: number;
}

/**
 * SQL of the threat events. Filtered queries are prepared once per combination of
 * present filters (at most 64), so SQLite picks the matching index instead of scanning
 * past `(@x IS NULL OR …)` guards.
 */
export function createEventStore(db: Db) {
  const insert = db.prepare(`
    INSERT INTO threat_events (id, agent_id, org_id, hostname, type, severity, confidence, rule_id, details, source_ip, timestamp, timestamp_ms, received_at)
    VALUES (@id, @agent_id, @org_id, @hostname, @type, @severity, @confidence, @rule_id, @details, @source_ip, @timestamp, @timestamp_ms, @received_at)`);
  const recentForAgent = db.prepare<[string, number], { n: number }>(
    'SELECT COUNT(*) AS n FROM threat_events WHERE agent_id = ? AND timestamp_ms >= ?',
  );

  const pageQueries = new Map<string, { page: Statement<Record<string, unknown>, EventRow>; count: Statement<Record<string, unknown>, { n: number }> }>();
  const pageQueryFor = (filter: ThreatFilter) => {
    const present = FILTER_KEYS.filter((key) => filter[key] !== undefined);
    const cacheKey = present.join(',');
    let queries = pageQueries.get(cacheKey);
    if (!queries) {
      const where = present.length > 0 ? `WHERE ${present.map((key) => FILTERS[key]).join(' AND ')}` : '';
      queries = {
        page: db.prepare(`SELECT * FROM threat_events ${where} ORDER BY timestamp_ms DESC, seq DESC LIMIT @limit OFFSET @offset`),
        count: db.prepare(`SELECT COUNT(*) AS n FROM threat_events ${where}`),
      };
      pageQueries.set(cacheKey, queries);
    }
    const params: Record<string, unknown> = {};
    for (const key of present) params[key] = filter[key];
    return { queries, params };
  };

  // Summary aggregates, with and without the org filter.
  const aggregate = (select: string, extraWhere = '', tail = '') =>
    [false, true].map((byOrg) =>
      db.prepare<Record<string, unknown>, CountRow & { hostname?: string }>(
        `SELECT ${select}, COUNT(*) AS n FROM threat_events WHERE timestamp_ms >= @sinceMs ${byOrg ? 'AND org_id = @orgId' : ''} ${extraWhere} ${tail}`,
      ),
    );
  const bySeverity = aggregate('severity AS key', '', 'GROUP BY severity');
  const byType = aggregate('type AS key', '', 'GROUP BY type ORDER BY n DESC, type LIMIT @limit');
  const byAgent = aggregate('agent_id AS key, MAX(hostname) AS hostname', '', 'GROUP BY agent_id ORDER BY n DESC, agent_id LIMIT @limit');
  const bySourceIp = aggregate('source_ip AS key', 'AND source_ip IS NOT NULL', 'GROUP BY source_ip ORDER BY n DESC, source_ip LIMIT @limit');
  const pick = (pair: ReturnType<typeof aggregate>, sinceMs: number, orgId: string | undefined, limit = 0) =>
    (orgId === undefined ? pair[0]! : pair[1]!).all({ sinceMs, ...(orgId === undefined ? {} : { orgId }), ...(limit ? { limit } : {}) });

  return {
    /** Runs inside the caller's transaction (the batch is all or nothing). */
    insert: (row: EventRow) => void insert.run(row),
    page(filter: ThreatFilter, limit: number, offset: number): { rows: EventRow[]; total: number } {
      const { queries, params } = pageQueryFor(filter);
      return { rows: queries.page.all({ ...params, limit, offset }), total: queries.count.get(params)!.n };
    },
    recentCountForAgent: (agentId: string, sinceMs: number) => recentForAgent.get(agentId, sinceMs)!.n,
    countBySeverity: (sinceMs: number, orgId?: string) => pick(bySeverity, sinceMs, orgId),
    countByType: (sinceMs: number, limit: number, orgId?: string) => pick(byType, sinceMs, orgId, limit),
    countByAgent: (sinceMs: number, limit: number, orgId?: string) => pick(byAgent, sinceMs, orgId, limit),
    countBySourceIp: (sinceMs: number, limit: number, orgId?: string) => pick(bySourceIp, sinceMs, orgId, limit),
  };
}

export type EventStore = ReturnType<typeof createEventStore>;
