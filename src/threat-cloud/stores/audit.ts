import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { requireDurable } from '../../shared/db/durable.js';
import { defineStatement, type Transaction, type Storage } from '../../shared/db/storage.js';
import { newId } from '../../shared/tokens.js';

export const AUDIT_ACTIONS = ['create', 'update', 'delete', 'query'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What a `query` entry counts reads of (its `resource`). */
export const QUERY_KINDS = ['iocs', 'feeds', 'campaigns', 'query', 'sightings', 'stats'] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];
/** Distinct sample values (and client IPs) an aggregated entry keeps, and how long a sample may be. */
export const QUERY_SAMPLES = 5;

/** What retention purges separately: `query` (read) entries, and the writes (every other action). */
export type PurgeKind = 'query' | 'writes';

/** Who did something: the masked key (null for the admin token or an anonymous read) and the client IP. */
export type AuditActor = Pick<AuditEntry, 'apiKey' | 'ip'>;

export interface AuditEntry {
  action: AuditAction;
  resource: string;
  details?: Record<string, unknown>;
  /** Already masked: first 4 and last 4 characters of the key, never the key. */
  apiKey: string | null;
  ip: string | null;
}

export interface AuditRecord {
  id: string;
  action: AuditAction;
  resource: string;
  details: Record<string, unknown>;
  apiKey: string | null;
  ip: string | null;
  timestamp: string;
}

interface AuditRow {
  id: string;
  action: AuditAction;
  resource: string;
  details: string;
  api_key: string | null;
  ip: string | null;
  created_at: string;
}

type Where = {
  action: string | null;
  since: string | null;
};
type Page = Where & { limit: number; offset: number };
const NEWEST = 'ORDER BY created_at DESC, rowid DESC';

// One statement per filter shape, each walking an index in the list's order (newest first):
// a page stops after offset + limit entries. Totals come from the trigger-kept hourly
// counts (migration 10), plus the entries after `since` within its own hour.
export const AUDIT_READS = {
  list: {
    all: defineStatement<Page, AuditRow>(`SELECT * FROM tc_audit_log INDEXED BY tc_audit_log_created_at ${NEWEST} LIMIT @limit OFFSET @offset`),
    action: defineStatement<Page, AuditRow>(
      `SELECT * FROM tc_audit_log INDEXED BY tc_audit_log_action WHERE action = @action ${NEWEST} LIMIT @limit OFFSET @offset`,
    ),
    since: defineStatement<Page, AuditRow>(
      `SELECT * FROM tc_audit_log INDEXED BY tc_audit_log_created_at WHERE created_at > @since ${NEWEST} LIMIT @limit OFFSET @offset`,
    ),
    both: defineStatement<Page, AuditRow>(
      `SELECT * FROM tc_audit_log INDEXED BY tc_audit_log_action WHERE action = @action AND created_at > @since ${NEWEST} LIMIT @limit OFFSET @offset`,
    ),
  },
  hoursTotal: defineStatement<Where & { afterHour: string }, { n: number }>(
    `SELECT coalesce(sum(n), 0) AS n FROM tc_audit_hours WHERE (CAST(@action AS TEXT) IS NULL OR action = @action) AND hour > @afterHour`,
  ),
  sinceHourTotal: {
    all: defineStatement<Where & { hourEnd: string }, { n: number }>(
      `SELECT count(*) AS n FROM tc_audit_log INDEXED BY tc_audit_log_created_at WHERE created_at > @since AND created_at < @hourEnd`,
    ),
    action: defineStatement<Where & { hourEnd: string }, { n: number }>(
      `SELECT count(*) AS n FROM tc_audit_log INDEXED BY tc_audit_log_action WHERE action = @action AND created_at > @since AND created_at < @hourEnd`,
    ),
  },
};

type AuditInsert = [id: string, action: AuditAction, resource: string, details: string, apiKey: string | null, ip: string | null, at: string];

// Retention walks `tc_audit_log_action` (action, created_at), so a batch reads only the rows it deletes.
const deleteOld = (actions: string) =>
  defineStatement<{ cutoff: string; batch: number }>(
    `DELETE FROM tc_audit_log WHERE rowid IN (
       SELECT rowid FROM tc_audit_log INDEXED BY tc_audit_log_action
       WHERE action IN (${actions}) AND created_at < @cutoff LIMIT @batch)`,
  );

/** The trail's writes: an entry, the read aggregates' upsert, the retention purges. */
export const AUDIT_WRITES = {
  insert: defineStatement<AuditInsert>(
    `INSERT INTO tc_audit_log (id, action, resource, details, api_key, ip, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ),
  aggregateDetails: defineStatement<[id: string], { details: string }>(`SELECT details FROM tc_audit_log WHERE id = ? AND action = 'query'`),
  // Only the details change: the hourly counts follow inserts and deletes, so the row counts once.
  updateDetails: defineStatement<[details: string, id: string]>(`UPDATE tc_audit_log SET details = ? WHERE id = ?`),
  purge: { query: deleteOld(`'query'`), writes: deleteOld(`'create', 'update', 'delete'`) } satisfies Record<PurgeKind, unknown>,
};

/** The flush's read-then-write of aggregate rows: two flushes must not both insert (or both add to) one row. */
const QUERY_AUDIT_LOCK = 'tc:query-audit';

/**
 * The Threat Cloud audit trail. `record` writes in the caller's transaction, which must be
 * durable: the trail must survive a power loss.
 */
export function createAuditStore(storage: Storage, clock: Clock) {
  const { insert, aggregateDetails, updateDetails, purge } = AUDIT_WRITES;
  const { list, hoursTotal, sinceHourTotal } = AUDIT_READS;

  /** Entries matching the filter: whole hours from the counts, the hour `since` falls in from the log. */
  async function total(where: Where): Promise<number> {
    if (where.since === null) return (await storage.get(hoursTotal, { ...where, afterHour: '' }))!.n;
    const hour = where.since.slice(0, 13);
    const within = (await storage.get(where.action === null ? sinceHourTotal.all : sinceHourTotal.action, { ...where, hourEnd: `${hour};` }))!.n;
    return within + (await storage.get(hoursTotal, { ...where, afterHour: hour }))!.n;
  }

  return {
    /**
     * Deletes up to `batch` entries of the kind created before `cutoff`, in a transaction of
     * its own; returns how many. The delete trigger keeps the hourly counts right. Committed
     * without a sync on purpose: a purge a power loss undoes is simply done again.
     */
    async purgeBatch(kind: PurgeKind, cutoff: string, batch: number): Promise<number> {
      return await storage.transaction({ durable: false }, async (tx) => (await tx.run(purge[kind], { cutoff, batch })).changes);
    },
    /** In the caller's durable transaction: the trail must survive a power loss. */
    async record(tx: Transaction, entry: AuditEntry): Promise<void> {
      requireDurable(tx);
      await tx.run(insert, [newId('audit_'), entry.action, entry.resource, JSON.stringify(entry.details ?? {}), entry.apiKey, entry.ip, toIso(clock.now())]);
    },
    /**
     * The query buffer's flush: adds each aggregate to its row (found by its id), or inserts the
     * row the first time, in one transaction committed without a sync on purpose: reads must
     * never wait for the disk. A power loss may lose what was flushed since the last sync (the
     * next durable write or checkpoint syncs it): about the last second of read audit.
     */
    async addQueryAggregates(aggregates: Iterable<QueryAggregate>): Promise<void> {
      await storage.transaction({ durable: false, locks: [QUERY_AUDIT_LOCK] }, async (tx) => {
        for (const aggregate of aggregates) {
          const stored = await tx.get(aggregateDetails, [aggregate.id]);
          if (stored) await tx.run(updateDetails, [JSON.stringify(mergeDetails(JSON.parse(stored.details) as StoredDetails, aggregate)), aggregate.id]);
          else await tx.run(insert, [aggregate.id, 'query', aggregate.kind, JSON.stringify(detailsOf(aggregate)), aggregate.apiKey, aggregate.ip, aggregate.minute]);
        }
      });
    },
    async list(filter: { action?: AuditAction; since?: string; page: number; limit: number }): Promise<{ items: AuditRecord[]; total: number }> {
      const where: Where = { action: filter.action ?? null, since: filter.since ?? null };
      const statement = where.action === null ? (where.since === null ? list.all : list.since) : where.since === null ? list.action : list.both;
      const rows = await storage.all(statement, { ...where, limit: filter.limit, offset: (filter.page - 1) * filter.limit });
      return {
        total: await total(where),
        items: rows.map((row) => ({
          id: row.id,
          action: row.action,
          resource: row.resource,
          details: JSON.parse(row.details) as Record<string, unknown>,
          apiKey: row.api_key,
          ip: row.ip,
          timestamp: row.created_at,
        })),
      };
    },
  };
}
export type AuditStore = ReturnType<typeof createAuditStore>;

/** Reads of one actor and kind within one UTC minute, as the buffer collects them between flushes. */
export interface QueryAggregate {
  /** Derived from actor, kind and minute: a later flush (or a restart) finds the same row. */
  id: string;
  kind: QueryKind;
  /** Start of the UTC minute: the entry's timestamp. */
  minute: string;
  apiKey: string | null;
  /** The actor of anonymous reads; for a key, the first client IP of the minute. */
  ip: string | null;
  count: number;
  samples: string[];
  ips: string[];
}

interface StoredDetails {
  count?: unknown;
  samples?: unknown;
  ips?: unknown;
}

const detailsOf = (aggregate: QueryAggregate) => ({ count: aggregate.count, samples: aggregate.samples, ips: aggregate.ips });

function mergeDetails(stored: StoredDetails, aggregate: QueryAggregate) {
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);
  return {
    count: (typeof stored.count === 'number' ? stored.count : 0) + aggregate.count,
    samples: addDistinct(strings(stored.samples), aggregate.samples),
    ips: addDistinct(strings(stored.ips), aggregate.ips),
  };
}

/** `into` with the values of `more` it lacks, up to QUERY_SAMPLES in all. */
function addDistinct(into: string[], more: Iterable<string>): string[] {
  const result = into.slice(0, QUERY_SAMPLES);
  for (const value of more) {
    if (result.length >= QUERY_SAMPLES) break;
    if (!result.includes(value)) result.push(value);
  }
  return result;
}
