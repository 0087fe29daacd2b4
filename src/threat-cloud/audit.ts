import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../shared/clock.js';
import { toIso } from '../shared/clock.js';
import { durableTransaction, writeDurably } from '../shared/db/durable.js';
import type { Db } from '../shared/db/open.js';
import { newId } from '../shared/tokens.js';

export const AUDIT_ACTIONS = ['create', 'update', 'delete', 'query'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

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

interface Where {
  action: string | null;
  since: string | null;
}
type Page = Where & { limit: number; offset: number };
const NEWEST = 'ORDER BY created_at DESC, rowid DESC';

/** The Threat Cloud audit trail. `record` is synchronous so writes audit in their own transaction. */
export function createAuditStore(db: Db, clock: Clock) {
  const insert = db.prepare<[string, AuditAction, string, string, string | null, string | null, string]>(
    `INSERT INTO tc_audit_log (id, action, resource, details, api_key, ip, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // One statement per filter shape, each walking an index in the list's order (newest first):
  // a page stops after offset + limit entries. Totals come from the trigger-kept hourly
  // counts (migration 10), plus the entries after `since` within its own hour.
  const list = {
    all: db.prepare<Page, AuditRow>(`SELECT * FROM tc_audit_log INDEXED BY tc_audit_log_created_at ${NEWEST} LIMIT @limit OFFSET @offset`),
    action: db.prepare<Page, AuditRow>(
      `SELECT * FROM tc_audit_log INDEXED BY tc_audit_log_action WHERE action = @action ${NEWEST} LIMIT @limit OFFSET @offset`,
    ),
    since: db.prepare<Page, AuditRow>(
      `SELECT * FROM tc_audit_log INDEXED BY tc_audit_log_created_at WHERE created_at > @since ${NEWEST} LIMIT @limit OFFSET @offset`,
    ),
    both: db.prepare<Page, AuditRow>(
      `SELECT * FROM tc_audit_log INDEXED BY tc_audit_log_action WHERE action = @action AND created_at > @since ${NEWEST} LIMIT @limit OFFSET @offset`,
    ),
  };
  const hoursTotal = db.prepare<Where & { afterHour: string }, { n: number }>(
    `SELECT coalesce(sum(n), 0) AS n FROM tc_audit_hours WHERE (@action IS NULL OR action = @action) AND hour > @afterHour`,
  );
  const sinceHourTotal = {
    all: db.prepare<Where & { hourEnd: string }, { n: number }>(
      `SELECT count(*) AS n FROM tc_audit_log INDEXED BY tc_audit_log_created_at WHERE created_at > @since AND created_at < @hourEnd`,
    ),
    action: db.prepare<Where & { hourEnd: string }, { n: number }>(
      `SELECT count(*) AS n FROM tc_audit_log INDEXED BY tc_audit_log_action WHERE action = @action AND created_at > @since AND created_at < @hourEnd`,
    ),
  };

  /** Entries matching the filter: whole hours from the counts, the hour `since` falls in from the log. */
  function total(where: Where): number {
    if (where.since === null) return hoursTotal.get({ ...where, afterHour: '' })!.n;
    const hour = where.since.slice(0, 13);
    const within = (where.action === null ? sinceHourTotal.all : sinceHourTotal.action).get({ ...where, hourEnd: `${hour};` })!.n;
    return within + hoursTotal.get({ ...where, afterHour: hour })!.n;
  }

  const write = (entry: AuditEntry, at: string) =>
    insert.run(newId('audit_'), entry.action, entry.resource, JSON.stringify(entry.details ?? {}), entry.apiKey, entry.ip, at);

  return {
    /** Synced at commit (see writeDurably): the trail must survive a power loss. */
    record(entry: AuditEntry): void {
      writeDurably(db, () => write(entry, toIso(clock.now())));
    },
    /** Entries stamped when they happened, written now (the query buffer's flush). */
    recordMany: durableTransaction(db, (entries: Array<AuditEntry & { at: string }>) => {
      for (const entry of entries) write(entry, entry.at);
    }),
    list(filter: { action?: AuditAction; since?: string; page: number; limit: number }): { items: AuditRecord[]; total: number } {
      const where: Where = { action: filter.action ?? null, since: filter.since ?? null };
      const statement = where.action === null ? (where.since === null ? list.all : list.since) : where.since === null ? list.action : list.both;
      const rows = statement.all({ ...where, limit: filter.limit, offset: (filter.page - 1) * filter.limit });
      return {
        total: total(where),
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

/**
 * Reads are audited without a write per request: entries wait in memory and are written in
 * one transaction at least every second (unref'd timer) and when the app closes.
 */
export function createQueryAuditBuffer(audit: AuditStore, clock: Clock, logger: FastifyBaseLogger, flushMs = 1000) {
  let pending: Array<AuditEntry & { at: string }> = [];
  let timer: NodeJS.Timeout | null = null;

  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    try {
      audit.recordMany(batch);
    } catch (error) {
      logger.error({ err: error, entries: batch.length }, 'could not write query audit entries');
    }
  };

  return {
    push(entry: Omit<AuditEntry, 'action'>): void {
      pending.push({ ...entry, action: 'query', at: toIso(clock.now()) });
    },
    flush,
    start(): void {
      timer ??= setInterval(flush, flushMs);
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = null;
      flush();
    },
    get pendingCount(): number {
      return pending.length;
    },
  };
}
export type QueryAuditBuffer = ReturnType<typeof createQueryAuditBuffer>;
