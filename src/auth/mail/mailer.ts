import type { FastifyBaseLogger } from 'fastify';
import type { OutboxStore } from '../stores/outbox.js';
import type { MailTransport } from './transport.js';

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
  /** Retries whatever is still pending (after a restart, say). */
  resumePending(): Promise<void>;
  /** Stops retry timers and waits for sends in flight; pending rows are retried on the next start. */
  close(): Promise<void>;
}

export const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000] as const;

/**
 * Mail delivery that never blocks a response and never loses a message silently: every
 * message is written to the outbox first; with a transport it is sent in the background
 * and retried with growing delays (unref'd timers), each failure logged. The log names
 * only the recipient and subject, never the body (it may hold a reset link).
 */
export function createMailer(options: {
  outbox: OutboxStore;
  transport: MailTransport | null;
  from: string;
  logger: FastifyBaseLogger;
  retryDelaysMs?: readonly number[];
}): Mailer {
  const { outbox, transport, from, logger } = options;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();
  let closed = false;

  function schedule(id: string, delayMs: number): void {
    if (closed) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      track(attempt(id));
    }, delayMs);
    timer.unref();
    timers.add(timer);
  }

  function track(work: Promise<void>): void {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  async function attempt(id: string): Promise<void> {
    const message = await outbox.get(id);
    if (!transport || !message || message.status !== 'pending' || closed) return;
    try {
      await transport.send({ from, to: message.recipient, subject: message.subject, text: message.body });
      await outbox.markSent(id);
      logger.info({ recipient: message.recipient, subject: message.subject }, 'mail sent');
    } catch (error) {
      const retryIn = delays[message.attempts];
      const giveUp = retryIn === undefined;
      const reason = (error as Error).message;
      await outbox.markFailedAttempt(id, reason, giveUp);
      if (giveUp) {
        logger.error({ recipient: message.recipient, subject: message.subject, attempts: message.attempts + 1, reason }, 'mail delivery failed; kept in outbox as failed');
      } else {
        logger.warn({ recipient: message.recipient, subject: message.subject, attempt: message.attempts + 1, retryInMs: retryIn, reason }, 'mail delivery failed; will retry');
        schedule(id, retryIn);
      }
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
      });
      if (!transport) {
        logger.info({ recipient: mail.to, subject: mail.subject }, 'mail kept in the outbox (SMTP_URL not set)');
        return;
      }
      schedule(message.id, 0);
    },
    async resumePending() {
      if (!transport) return;
      for (const message of await outbox.pending()) schedule(message.id, 0);
    },
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      transport?.close();
    },
  };
}
