import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { newId } from '../../shared/tokens.js';

export type OutboxStatus = 'stored' | 'pending' | 'sent' | 'failed';

export interface OutboxMessage {
  id: string;
  userId: string | null;
  recipient: string;
  subject: string;
  body: string;
  status: OutboxStatus;
  attempts: number;
  createdAt: string;
  expiresAt: string;
}

interface OutboxRow {
  id: string;
  user_id: string | null;
  recipient: string;
  subject: string;
  body: string;
  status: OutboxStatus;
  attempts: number;
  created_at: string;
  expires_at: string;
}

const toMessage = (row: OutboxRow): OutboxMessage => ({
  id: row.id,
  userId: row.user_id,
  recipient: row.recipient,
  subject: row.subject,
  body: row.body,
  status: row.status,
  attempts: row.attempts,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});

/**
 * The `outbox` table. Without SMTP it is the delivery itself (status `stored`, read by the
 * operator's CLI); with SMTP it is the durable queue (status `pending` until sent), so a
 * message is never lost to a crash or an SMTP outage. Rows go once their content expires.
 */
export function createOutboxStore(db: Db, clock: Clock) {
  const insert = db.prepare(
    `INSERT INTO outbox (id, user_id, recipient, subject, body, status, created_at, expires_at)
     VALUES (@id, @userId, @recipient, @subject, @body, @status, @createdAt, @expiresAt)`,
  );
  const get = db.prepare<[string], OutboxRow>(`SELECT * FROM outbox WHERE id = ?`);
  // A sent message's body (it may hold a reset link) is no longer needed: drop it.
  const markSent = db.prepare(`UPDATE outbox SET status = 'sent', body = '', attempts = attempts + 1, sent_at = ?, last_error = NULL WHERE id = ?`);
  const markAttempt = db.prepare(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, status = ? WHERE id = ?`);
  const pending = db.prepare<[], OutboxRow>(`SELECT * FROM outbox WHERE status = 'pending' ORDER BY created_at, id`);
  const purge = db.prepare(`DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox WHERE expires_at <= ? LIMIT ?)`);
  const ofRecipient = db.prepare<[string], OutboxRow>(`SELECT * FROM outbox WHERE recipient = ? ORDER BY created_at, id`);
  const removeOfUser = db.prepare(`DELETE FROM outbox WHERE user_id = ? OR recipient = ?`);

  return {
    add(input: { userId: string | null; recipient: string; subject: string; body: string; status: 'stored' | 'pending'; ttlMs: number }): OutboxMessage {
      const now = clock.now();
      const row = {
        id: newId('mail_'),
        userId: input.userId,
        recipient: input.recipient,
        subject: input.subject,
        body: input.body,
        status: input.status,
        createdAt: toIso(now),
        expiresAt: toIso(now + input.ttlMs),
      };
      insert.run(row);
      return toMessage(get.get(row.id)!);
    },
    get(id: string): OutboxMessage | null {
      const row = get.get(id);
      return row ? toMessage(row) : null;
    },
    markSent(id: string): void {
      markSent.run(toIso(clock.now()), id);
    },
    markFailedAttempt(id: string, error: string, giveUp: boolean): void {
      markAttempt.run(error.slice(0, 500), giveUp ? 'failed' : 'pending', id);
    },
    pending(): OutboxMessage[] {
      return pending.all().map(toMessage);
    },
    listForRecipient(recipient: string): OutboxMessage[] {
      return ofRecipient.all(recipient).map(toMessage);
    },
    removeForUser(userId: string, email: string): void {
      removeOfUser.run(userId, email);
    },
    /** Up to `limit` expired messages: one slice of the hourly sweep. */
    purgeExpired(limit: number): number {
      return purge.run(toIso(clock.now()), limit).changes;
    },
  };
}
export type OutboxStore = ReturnType<typeof createOutboxStore>;
