import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { newId } from '../../shared/tokens.js';
import { COUNT_CAP } from '../../shared/capped-total.js';
import { requireDurable } from '../../shared/db/durable.js';
import { defineStatement, type Queryable, type Statement, type Transaction, type Storage } from '../../shared/db/storage.js';

export interface AuditEntry {
  id: string;
  action: string;
  actorId: string | null;
  targetId: string | null;
  ip: string | null;
  details: Record<string, unknown>;
  createdAt: string;
}

interface AuditRow {
  id: string;
  action: string;
  actor_id: string | null;
  target_id: string | null;
  ip: string | null;
  details: string;
  created_at: string;
}

const toEntry = (row: AuditRow): AuditEntry => ({
  id: row.id,
  action: row.action,
  actorId: row.actor_id,
  targetId: row.target_id,
  ip: row.ip,
  details: JSON.parse(row.details) as Record<string, unknown>,
  createdAt: row.created_at,
});

export interface NewAuditEntry {
  action: string;
  actorId?: string | null;
  targetId?: string | null;
  ip?: string | null;
  /** Never secrets: ids, field names, tiers, counts. */
  details?: Record<string, unknown>;
}

export interface AuditFilter {
  action?: string;
  actorId?: string;
  since?: string;
  until?: string;
  limit: number;
  offset: number;
}

// One statement per combination of filters, each on the index that holds every filter given
// (actor, action, or both) in list order, so a page stops after OFFSET + LIMIT entries.
const CLAUSES = {
  action: 'action = @action',
  actorId: 'actor_id = @actorId',
  since: 'created_at >= @since',
  until: 'created_at <= @until',
};
export type AuditClause = keyof typeof CLAUSES;
type Clause = AuditClause;
type PageStatements = { page: Statement<Record<string, unknown>, AuditRow>; count: Statement<Record<string, unknown>, { n: number }> };
const composedPages = new Map<string, PageStatements>();

/** The page and count statements for the filters present: composed once, the same objects after. */
export function auditPageStatements(present: readonly Clause[]): PageStatements {
  const key = present.join(',');
  let found = composedPages.get(key);
  if (!found) {
    const index = present.includes('actorId')
      ? present.includes('action')
        ? 'audit_log_actor_action'
        : 'audit_log_actor'
      : present.includes('action')
        ? 'audit_log_action'
        : 'audit_log_created';
    const from = `FROM audit_log INDEXED BY ${index} ${present.length > 0 ? `WHERE ${present.map((c) => CLAUSES[c]).join(' AND ')}` : ''}`;
    found = {
      page: defineStatement(`SELECT * ${from} ORDER BY created_at DESC, rowid DESC LIMIT @limit OFFSET @offset`),
      count: defineStatement(`SELECT count(*) AS n FROM (SELECT 1 ${from} LIMIT @cap) AS capped`),
    };
    composedPages.set(key, found);
  }
  return found;
}

type AuditInsert = [id: string, action: string, actorId: string | null, targetId: string | null, ip: string | null, details: string, createdAt: string];
const INSERT = defineStatement<AuditInsert>(
  `INSERT INTO audit_log (id, action, actor_id, target_id, ip, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
);
// Kept by trigger (migrations/011-read-indexes.ts): the totals of the whole trail, an action and an actor.
const KEPT = defineStatement<{ kind: string; key: string }, { n: number }>(`SELECT coalesce(sum(n), 0) AS n FROM auth_counts WHERE kind = @kind AND key = @key`);
// SQLite reads LIMIT -1 as "no limit" (the GDPR export's every entry); PostgreSQL refuses a
// negative LIMIT and reads LIMIT NULL as none.
const ABOUT_USER = defineStatement<[actorId: string, targetId: string, limit: number], AuditRow>({
  sqlite: `SELECT * FROM audit_log WHERE actor_id = ? OR target_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
  postgres: `SELECT * FROM audit_log WHERE actor_id = ? OR target_id = ? ORDER BY created_at DESC, rowid DESC LIMIT nullif(CAST(? AS bigint), -1)`,
});
// A user's recent entries: the newest of each side (as actor, as target) merged, not all of them.
const ABOUT_USER_NEWEST = defineStatement<{ userId: string; limit: number }, AuditRow>(`
    SELECT * FROM (
      SELECT * FROM (SELECT rowid AS r, * FROM audit_log WHERE actor_id = @userId ORDER BY created_at DESC, rowid DESC LIMIT @limit) AS as_actor
      UNION
      SELECT * FROM (SELECT rowid AS r, * FROM audit_log WHERE target_id = @userId ORDER BY created_at DESC, rowid DESC LIMIT @limit) AS as_target
    ) AS newest ORDER BY created_at DESC, r DESC LIMIT @limit`);
const ANONYMISE = defineStatement<{ userId: string }>(
  `UPDATE audit_log SET actor_id = CASE WHEN actor_id = @userId THEN NULL ELSE actor_id END,
                          target_id = CASE WHEN target_id = @userId THEN NULL ELSE target_id END,
                          ip = NULL, details = '{"subjectDeleted":true}'
     WHERE actor_id = @userId OR target_id = @userId`,
);

/** The audit trail: who did what to whom, from where, when. */
export function createAuditStore(storage: Storage, clock: Clock) {
  const keptTotal = async (filter: AuditFilter): Promise<number | null> => {
    if (filter.since !== undefined || filter.until !== undefined) return null;
    if (filter.action !== undefined && filter.actorId !== undefined) return null;
    if (filter.action !== undefined) return (await storage.get(KEPT, { kind: 'audit_action', key: filter.action }))!.n;
    if (filter.actorId !== undefined) return (await storage.get(KEPT, { kind: 'audit_actor', key: filter.actorId }))!.n;
    return (await storage.get(KEPT, { kind: 'audit', key: '' }))!.n;
  };
  const insert = (tx: Transaction, entry: NewAuditEntry) =>
    tx.run(INSERT, [
      newId('audit_'),
      entry.action,
      entry.actorId ?? null,
      entry.targetId ?? null,
      entry.ip ?? null,
      JSON.stringify(entry.details ?? {}),
      toIso(clock.now()),
    ]);

  return {
    /**
     * Writes an entry inside `tx`, which must be a durable transaction: the trail must
     * survive a power loss, so it commits with a sync.
     */
    async record(tx: Transaction, entry: NewAuditEntry): Promise<void> {
      requireDurable(tx);
      await insert(tx, entry);
    },
    /** An entry on its own, in a durable transaction of its own. */
    async recordNow(entry: NewAuditEntry): Promise<void> {
      await storage.transaction({ durable: true }, (tx) => insert(tx, entry));
    },
    /**
     * A page newest first and the total: exact from the kept counts for the whole trail, one
     * action or one actor; with a time range or both, counted up to `COUNT_CAP`.
     */
    async page(filter: AuditFilter): Promise<{ items: AuditEntry[]; total: number }> {
      const present = (Object.keys(CLAUSES) as Clause[]).filter((key) => filter[key] !== undefined);
      const params = { action: filter.action, actorId: filter.actorId, since: filter.since, until: filter.until };
      const { page, count } = auditPageStatements(present);
      const exact = await keptTotal(filter);
      const total = exact ?? (await storage.get(count, { ...params, cap: COUNT_CAP }))!.n;
      if (filter.offset >= total) return { items: [], total };
      // With the total known, the walk stops at the last entry instead of searching past it.
      const limit = exact === null ? filter.limit : Math.min(filter.limit, exact - filter.offset);
      return { items: (await storage.all(page, { ...params, limit, offset: filter.offset })).map(toEntry), total };
    },
    /** The user's entries (as actor or target) newest first; all of them without a limit (GDPR export). */
    async aboutUser(userId: string, limit = -1): Promise<AuditEntry[]> {
      return (limit > 0 ? await storage.all(ABOUT_USER_NEWEST, { userId, limit }) : await storage.all(ABOUT_USER, [userId, userId, limit])).map(toEntry);
    },
    /** Keeps the actions of a deleted user's entries but drops every personal detail. */
    async anonymiseUser(q: Queryable, userId: string): Promise<void> {
      await q.run(ANONYMISE, { userId });
    },
  };
}
export type AuditStore = ReturnType<typeof createAuditStore>;
