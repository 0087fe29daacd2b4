import type { FastifyBaseLogger } from 'fastify';
import type { OutboxMessage, OutboxStore } from '../stores/outbox.js';
import { SEND_DEADLINE_MS, type MailTransport } from './transport.js';

export interface OutgoingMail {
  userId: string | null;
  to: string;
  subject: string;
  text: string;
  /** How long the content stays useful (a reset link: its token's lifetime). */
  ttlMs: number;
}

export interface Mailer {
  /** Records the message; delivery happens in the background, after it is stored. */
  send(mail: OutgoingMail): Promise<void>;
  /**
   * Sends whatever is pending and held by no replica (after a restart, say), then keeps
   * sweeping on an interval for claims that lapse (a replica died holding them).
   */
  resumePending(): Promise<void>;
  /**
   * Stops the sweep and retry timers, waits for sends in flight, and releases the claims it
   * still holds: another replica's next sweep (or the next start) retries those at once.
   */
  close(): Promise<void>;
}

export const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000] as const;

/**
 * How long a replica holds a mail while it sends it: twice the transport's deadline for one
 * attempt, so the attempt, the writes around it, a stalled event loop and a minute of clock
 * difference between replicas all fit before another replica may take the mail over. It is
 * also how late a dead replica's mail goes out: its claims must lapse first.
 */
export const CLAIM_MS = 2 * SEND_DEADLINE_MS;
/** How often each replica looks for pending mail nobody holds: one indexed, bounded query. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
/** Mails one sweep claims and sends at once; a full batch is followed by the next one. */
export const DEFAULT_CLAIM_BATCH = 50;

/**
 * Mail delivery that never blocks a response and never loses a message silently: every
 * message is written to the outbox first; with a transport it is sent in the background
 * and retried with growing delays (unref'd timers), each failure logged. The log names
 * only the recipient and subject, never the body (it may hold a reset link).
 *
 * Several replicas share the outbox, so a replica sends a mail only while it holds the mail's
 * claim (see the outbox store): the replica that stored it holds it from the start, a failed
 * attempt keeps it until the retry is due (plus CLAIM_MS), and a claim that lapses is taken by
 * whichever replica sweeps next. Each mail is therefore sent once, except in one window SMTP
 * cannot close: a replica that stops after the server accepted the mail but before it was
 * marked sent leaves a claim that lapses, and the mail is sent again (at least once there).
 */
export function createMailer(options: {
  outbox: OutboxStore;
  transport: MailTransport | null;
  from: string;
  logger: FastifyBaseLogger;
  retryDelaysMs?: readonly number[];
  /** How often this replica looks for mail whose claim lapsed (tests shorten it). */
  sweepIntervalMs?: number;
  /** Mails claimed per sweep query (tests shrink it so replicas interleave). */
  claimBatch?: number;
}): Mailer {
  const { outbox, transport, from, logger } = options;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const batchSize = options.claimBatch ?? DEFAULT_CLAIM_BATCH;
  /** The claims this replica holds: message id → its ticket (the `claimed_until` it wrote). */
  const held = new Map<string, string>();
  const retries = new Map<string, NodeJS.Timeout>();
  const sending = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let sweeper: NodeJS.Timeout | null = null;
  let sweeping = false;
  let closed = false;

  function track(work: Promise<void>): Promise<void> {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    return work;
  }

  function schedule(id: string, delayMs: number): void {
    if (closed) return;
    clearTimeout(retries.get(id));
    const timer = setTimeout(() => {
      retries.delete(id);
      void track(attempt(id));
    }, delayMs);
    timer.unref();
    retries.set(id, timer);
  }

  /** One delivery attempt under the claim; never rejects (the claim lapses if the database fails). */
  async function attempt(id: string): Promise<void> {
    const ticket = held.get(id);
    // A mail this replica is sending already (a sweep took back its own lapsed claim) waits for that attempt.
    if (!transport || ticket === undefined || closed || sending.has(id)) return;
    sending.add(id);
    let message: OutboxMessage | null = null;
    try {
      // Renewing checks the claim is still ours and gives the attempt a whole CLAIM_MS.
      message = await outbox.renewClaim(id, ticket, CLAIM_MS);
      if (message === null) {
        held.delete(id);
        return;
      }
      held.set(id, message.claimedUntil!);
      const delivered = await deliver(message);
      if (delivered) {
        held.delete(id);
        await outbox.markSent(id);
        logger.info({ recipient: message.recipient, subject: message.subject }, 'mail sent');
      }
    } catch (error) {
      held.delete(id);
      logger.error(
        { recipient: message?.recipient, subject: message?.subject, err: error },
        'mail outbox unavailable during delivery; the mail is retried once its claim lapses (if it was already accepted, it is sent again then)',
      );
    } finally {
      sending.delete(id);
    }
  }

  /** Sends the message; on failure records it and schedules the retry. True when SMTP accepted it. */
  async function deliver(message: OutboxMessage): Promise<boolean> {
    try {
      await transport!.send({ from, to: message.recipient, subject: message.subject, text: message.body });
      return true;
    } catch (error) {
      const retryIn = delays[message.attempts];
      const reason = (error as Error).message;
      const recorded = await outbox.markFailedAttempt(message.id, message.claimedUntil!, reason, retryIn === undefined ? null : retryIn + CLAIM_MS);
      const where = { recipient: message.recipient, subject: message.subject };
      if (recorded === null) {
        held.delete(message.id);
        logger.warn({ ...where, reason }, 'mail delivery failed; another replica holds the mail now');
      } else if (retryIn === undefined) {
        held.delete(message.id);
        logger.error({ ...where, attempts: recorded.attempts, reason }, 'mail delivery failed; kept in outbox as failed');
      } else {
        held.set(message.id, recorded.claimedUntil!);
        logger.warn({ ...where, attempt: recorded.attempts, retryInMs: retryIn, reason }, 'mail delivery failed; will retry');
        schedule(message.id, retryIn);
      }
      return false;
    }
  }

  /** Claims one batch of pending mail nobody holds and starts sending it. */
  async function claimBatch(): Promise<Array<Promise<void>>> {
    const claimed = await outbox.claimPending(CLAIM_MS, batchSize);
    claimed.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    return claimed.map((message) => {
      clearTimeout(retries.get(message.id));
      retries.delete(message.id);
      held.set(message.id, message.claimedUntil!);
      return track(attempt(message.id));
    });
  }

  /**
   * One sweep at a time: resolves once its first batch is claimed; a full batch means more may
   * wait, so the next is claimed when this one has been attempted (a backlog drains with at
   * most one batch in flight).
   */
  async function sweep(): Promise<void> {
    if (!transport || closed || sweeping) return;
    sweeping = true;
    let first: Array<Promise<void>>;
    try {
      first = await claimBatch();
    } catch (error) {
      sweeping = false;
      logger.warn({ err: error }, 'could not claim pending mail; the next sweep tries again');
      return;
    }
    void track(drain(first));
  }

  async function drain(started: Array<Promise<void>>): Promise<void> {
    try {
      let batch = started;
      while (batch.length === batchSize && !closed) {
        await Promise.allSettled(batch);
        batch = await claimBatch();
      }
    } catch (error) {
      logger.warn({ err: error }, 'could not claim pending mail; the next sweep tries again');
    } finally {
      sweeping = false;
    }
  }

  return {
    async send(mail) {
      const message = await outbox.add({
        userId: mail.userId,
        recipient: mail.to,
        subject: mail.subject,
        body: mail.text,
        status: transport ? 'pending' : 'stored',
        ttlMs: mail.ttlMs,
        claimMs: CLAIM_MS,
      });
      if (!transport) {
        logger.info({ recipient: mail.to, subject: mail.subject }, 'mail kept in the outbox (SMTP_URL not set)');
        return;
      }
      // Held even when closing: close() releases it, so it is not left claimed until the claim lapses.
      held.set(message.id, message.claimedUntil!);
      schedule(message.id, 0);
    },
    async resumePending() {
      if (!transport || closed) return;
      if (sweeper === null) {
        sweeper = setInterval(() => void track(sweep()), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
        sweeper.unref();
      }
      await track(sweep());
    },
    async close() {
      closed = true;
      if (sweeper !== null) clearInterval(sweeper);
      for (const timer of retries.values()) clearTimeout(timer);
      retries.clear();
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      for (const [id, ticket] of held) {
        try {
          await outbox.releaseClaim(id, ticket);
        } catch (error) {
          logger.warn({ err: error }, 'could not release a mail claim; it lapses by itself');
        }
      }
      held.clear();
      transport?.close();
    },
  };
}
