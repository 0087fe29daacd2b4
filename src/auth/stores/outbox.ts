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
  /**
   * Until when one replica holds the right to send it (ISO), or null when nobody does. The
   * exact value is the holder's ticket: every later write of the holder compares it.
   */
  claimedUntil: string | null;
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
  claimed_until: string | null;
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
  claimedUntil: row.claimed_until,
});

type NewOutboxRow = Omit<OutboxMessage, 'attempts'>;
const INSERT = defineStatement<NewOutboxRow>(
  `INSERT INTO outbox (id, user_id, recipient, subject, body, status, created_at, expires_at, claimed_until)
     VALUES (@id, @userId, @recipient, @subject, @body, @status, @createdAt, @expiresAt, @claimedUntil)`,
);
const COLUMNS = `id, user_id, recipient, subject, body, status, attempts, created_at, expires_at, claimed_until`;
const GET = defineStatement<[id: string], OutboxRow>(`SELECT ${COLUMNS} FROM outbox WHERE id = ?`);
/**
 * Takes up to `limit` pending mails nobody holds (never claimed, released, or whose holder
 * let the claim lapse: it died or stalled), oldest first. On PostgreSQL the rows are locked
 * with SKIP LOCKED, so replicas claiming at the same moment take different rows instead of
 * waiting for each other; the CTE is MATERIALIZED so the LIMIT applies once, to the locked
 * rows. SQLite's single writer already serialises the claim.
 */
const CLAIM_PENDING = defineStatement<{ until: string; now: string; limit: number }, OutboxRow>({
  sqlite: `UPDATE outbox SET claimed_until = @until
     WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < @now) ORDER BY created_at, id LIMIT @limit)
     RETURNING ${COLUMNS}`,
  postgres: `WITH picked AS MATERIALIZED (
       SELECT id FROM outbox WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < @now)
        ORDER BY created_at, id LIMIT @limit FOR UPDATE SKIP LOCKED)
     UPDATE outbox SET claimed_until = @until FROM picked WHERE outbox.id = picked.id
     RETURNING ${COLUMNS.split(', ').map((column) => `outbox.${column}`).join(', ')}`,
});
// Every write of a holder compares its ticket: a holder that lost the claim (it stalled past
// it and another replica took the mail) changes nothing.
const RENEW = defineStatement<{ id: string; held: string; until: string }, OutboxRow>(
  `UPDATE outbox SET claimed_until = @until WHERE id = @id AND status = 'pending' AND claimed_until = @held RETURNING ${COLUMNS}`,
);
const MARK_ATTEMPT = defineStatement<{ id: string; held: string; error: string; status: OutboxStatus; until: string | null }, OutboxRow>(
  `UPDATE outbox SET attempts = attempts + 1, last_error = @error, status = @status, claimed_until = @until
     WHERE id = @id AND status = 'pending' AND claimed_until = @held RETURNING ${COLUMNS}`,
);
const RELEASE = defineStatement<{ id: string; held: string }>(
  `UPDATE outbox SET claimed_until = NULL WHERE id = @id AND status = 'pending' AND claimed_until = @held`,
);
// Unconditional: SMTP accepted the mail, whoever holds the claim now. A sent message's body
// (it may hold a reset link) is no longer needed: drop it.
const MARK_SENT = defineStatement<[now: string, id: string]>(
  `UPDATE outbox SET status = 'sent', body = '', attempts = attempts + 1, sent_at = ?, last_error = NULL, claimed_until = NULL WHERE id = ?`,
);
const PURGE = defineStatement<[now: string, limit: number]>(`DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox WHERE expires_at <= ? LIMIT ?)`);
const OF_RECIPIENT = defineStatement<[recipient: string], OutboxRow>(`SELECT * FROM outbox WHERE recipient = ? ORDER BY created_at, id`);
const REMOVE_OF_USER = defineStatement<[userId: string, email: string]>(`DELETE FROM outbox WHERE user_id = ? OR recipient = ?`);

/**
 * The `outbox` table. Without SMTP it is the delivery itself (status `stored`, read by the
 * operator's CLI); with SMTP it is the durable queue (status `pending` until sent), so a
 * message is never lost to a crash or an SMTP outage. Rows go once their content expires.
 * A pending message is sent only by the replica holding its claim (`claimed_until`): the one
 * that stored it, then whichever takes it once that claim is released or lapses.
 */
export function createOutboxStore(storage: Storage, clock: Clock) {
  const until = (ms: number) => toIso(clock.now() + ms);
  const messageOf = (row: OutboxRow | undefined) => (row ? toMessage(row) : null);
  return {
    /**
     * Stores a message. A pending one given `claimMs` is claimed by the caller in the same
     * statement, so no other replica's sweep can take it before the caller's first attempt.
     */
    async add(input: {
      userId: string | null;
      recipient: string;
      subject: string;
      body: string;
      status: 'stored' | 'pending';
      ttlMs: number;
      claimMs?: number;
    }): Promise<OutboxMessage> {
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
        claimedUntil: input.status === 'pending' && input.claimMs !== undefined ? toIso(now + input.claimMs) : null,
      };
      await storage.run(INSERT, row);
      return toMessage((await storage.get(GET, [row.id]))!);
    },
    async get(id: string): Promise<OutboxMessage | null> {
      return messageOf(await storage.get(GET, [id]));
    },
    /** Claims up to `limit` pending messages nobody holds, for `claimMs` from now (order not guaranteed). */
    async claimPending(claimMs: number, limit: number): Promise<OutboxMessage[]> {
      const rows = await storage.all(CLAIM_PENDING, { until: until(claimMs), now: toIso(clock.now()), limit });
      return rows.map(toMessage);
    },
    /** Extends a claim still held with the ticket `held` to `claimMs` from now; null when it is no longer held (or no longer pending). */
    async renewClaim(id: string, held: string, claimMs: number): Promise<OutboxMessage | null> {
      return messageOf(await storage.get(RENEW, { id, held, until: until(claimMs) }));
    },
    /** Gives a claim up, so any replica's next sweep may take the message at once. */
    async releaseClaim(id: string, held: string): Promise<void> {
      await storage.run(RELEASE, { id, held });
    },
    async markSent(id: string): Promise<void> {
      await storage.run(MARK_SENT, [toIso(clock.now()), id]);
    },
    /**
     * Records a failed attempt by the holder of `held`: kept pending and held for `holdMs` from
     * now (until the retry), or, with `holdMs` null, given up as failed. Null when the claim
     * was no longer held, and nothing was written.
     */
    async markFailedAttempt(id: string, held: string, error: string, holdMs: number | null): Promise<OutboxMessage | null> {
      const outcome = holdMs === null ? { status: 'failed' as const, until: null } : { status: 'pending' as const, until: until(holdMs) };
      return messageOf(await storage.get(MARK_ATTEMPT, { id, held, error: error.slice(0, 500), ...outcome }));
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
