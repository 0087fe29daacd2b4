import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { writeDurably } from '../../shared/db/durable.js';
import type { Db } from '../../shared/db/open.js';
import { newId } from '../../shared/tokens.js';

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

/** The audit trail: who did what to whom, from where, when. */
export function createAuditStore(db: Db, clock: Clock) {
  const insert = db.prepare(
    `INSERT INTO audit_log (id, action, actor_id, target_id, ip, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const where = `
    WHERE (@action IS NULL OR action = @action)
      AND (@actorId IS NULL OR actor_id = @actorId)
      AND (@since IS NULL OR created_at >= @since)
      AND (@until IS NULL OR created_at <= @until)`;
  const page = db.prepare<[Record<string, unknown>], AuditRow>(
    `SELECT * FROM audit_log ${where} ORDER BY created_at DESC, rowid DESC LIMIT @limit OFFSET @offset`,
  );
  const count = db.prepare<[Record<string, unknown>], { n: number }>(`SELECT count(*) AS n FROM audit_log ${where}`);
  const aboutUser = db.prepare<[string, string, number], AuditRow>(
    `SELECT * FROM audit_log WHERE actor_id = ? OR target_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
  );
  const anonymise = db.prepare(
    `UPDATE audit_log SET actor_id = CASE WHEN actor_id = @userId THEN NULL ELSE actor_id END,
                          target_id = CASE WHEN target_id = @userId THEN NULL ELSE target_id END,
                          ip = NULL, details = '{"subjectDeleted":true}'
     WHERE actor_id = @userId OR target_id = @userId`,
  );

  return {
    /** Synced at commit (see writeDurably): the trail must survive a power loss. */
    record(entry: NewAuditEntry): void {
      writeDurably(db, () =>
        insert.run(
          newId('audit_'),
          entry.action,
          entry.actorId ?? null,
          entry.targetId ?? null,
          entry.ip ?? null,
          JSON.stringify(entry.details ?? {}),
          toIso(clock.now()),
        ),
      );
    },
    page(filter: AuditFilter): { items: AuditEntry[]; total: number } {
      const params = { action: filter.action ?? null, actorId: filter.actorId ?? null, since: filter.since ?? null, until: filter.until ?? null };
      return { items: page.all({ ...params, limit: filter.limit, offset: filter.offset }).map(toEntry), total: count.get(params)!.n };
    },
    aboutUser(userId: string, limit = -1): AuditEntry[] {
      return aboutUser.all(userId, userId, limit).map(toEntry);
    },
    /** Keeps the actions of a deleted user's entries but drops every personal detail. */
    anonymiseUser(userId: string): void {
      anonymise.run({ userId });
    },
  };
}
export type AuditStore = ReturnType<typeof createAuditStore>;
