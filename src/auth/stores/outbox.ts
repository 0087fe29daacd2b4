import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Queryable, type Storage } from '../../shared/db/storage.js';
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

type NewOutboxRow = { id: string; userId: string | null; recipient: string; subject: string; body: string; status: OutboxStatus; createdAt: string; expiresAt: string };
const INSERT = defineStatement<NewOutboxRow>(
  `INSERT INTO outbox (id, user_id, recipient, subject, body, status, created_at, expires_at)
     VALUES (@id, @userId, @recipient, @subject, @body, @status, @createdAt, @expiresAt)`,
);
const GET = defineStatement<[id: string], OutboxRow>(`SELECT * FROM outbox WHERE id = ?`);
// A sent message's body (it may hold a reset link) is no longer needed: drop it.
const MARK_SENT = defineStatement<[now: string, id: string]>(`UPDATE outbox SET status = 'sent', body = '', attempts = attempts + 1, sent_at = ?, last_error = NULL WHERE id = ?`);
const MARK_ATTEMPT = defineStatement<[error: string, status: OutboxStatus, id: string]>(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, status = ? WHERE id = ?`);
const PENDING = defineStatement<void, OutboxRow>(`SELECT * FROM outbox WHERE status = 'pending' ORDER BY created_at, id`);
const PURGE = defineStatement<[now: string, limit: number]>(`DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox WHERE expires_at <= ? LIMIT ?)`);
const OF_RECIPIENT = defineStatement<[recipient: string], OutboxRow>(`SELECT * FROM outbox WHERE recipient = ? ORDER BY created_at, id`);
const REMOVE_OF_USER = defineStatement<[userId: string, email: string]>(`DELETE FROM outbox WHERE user_id = ? OR recipient = ?`);

/**
 * The `outbox` table. Without SMTP it is the delivery itself (status `stored`, read by the
 * operator's CLI); with SMTP it is the durable queue (status `pending` until sent), so a
 * message is never lost to a crash or an SMTP outage. Rows go once their content expires.
 */
export function createOutboxStore(storage: Storage, clock: Clock) {
  return {
    async add(
      input: { userId: string | null; recipient: string; subject: string; body: string; status: 'stored' | 'pending'; ttlMs: number },
    ): Promise<OutboxMessage> {
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
      await storage.run(INSERT, row);
      return toMessage((await storage.get(GET, [row.id]))!);
    },
    async get(id: string): Promise<OutboxMessage | null> {
      const row = await storage.get(GET, [id]);
      return row ? toMessage(row) : null;
    },
    async markSent(id: string): Promise<void> {
      await storage.run(MARK_SENT, [toIso(clock.now()), id]);
    },
    async markFailedAttempt(id: string, error: string, giveUp: boolean): Promise<void> {
      await storage.run(MARK_ATTEMPT, [error.slice(0, 500), giveUp ? 'failed' : 'pending', id]);
    },
    async pending(): Promise<OutboxMessage[]> {
      return (await storage.all(PENDING)).map(toMessage);
    },
    async listForRecipient(recipient: string): Promise<OutboxMessage[]> {
      return (await storage.all(OF_RECIPIENT, [recipient])).map(toMessage);
    },
    async removeForUser(q: Queryable, userId: string, email: string): Promise<void> {
      await q.run(REMOVE_OF_USER, [userId, email]);
    },
    /** Up to `limit` expired messages: one slice of the hourly sweep. */
    async purgeExpired(limit: number): Promise<number> {
      return (await storage.run(PURGE, [toIso(clock.now()), limit])).changes;
    },
  };
}
export type OutboxStore = ReturnType<typeof createOutboxStore>;
