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

/** The Threat Cloud audit trail. `record` is synchronous so writes audit in their own transaction. */
export function createAuditStore(db: Db, clock: Clock) {
  const insert = db.prepare<[string, AuditAction, string, string, string | null, string | null, string]>(
    `INSERT INTO tc_audit_log (id, action, resource, details, api_key, ip, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const list = db.prepare<{ action: string | null; since: string | null; limit: number; offset: number }, AuditRow>(
    `SELECT * FROM tc_audit_log
     WHERE (@action IS NULL OR action = @action) AND (@since IS NULL OR created_at > @since)
     ORDER BY created_at DESC, rowid DESC LIMIT @limit OFFSET @offset`,
  );
  const count = db.prepare<{ action: string | null; since: string | null }, { n: number }>(
    `SELECT count(*) AS n FROM tc_audit_log WHERE (@action IS NULL OR action = @action) AND (@since IS NULL OR created_at > @since)`,
  );

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
      const where = { action: filter.action ?? null, since: filter.since ?? null };
      const rows = list.all({ ...where, limit: filter.limit, offset: (filter.page - 1) * filter.limit });
      return {
        total: count.get(where)!.n,
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
