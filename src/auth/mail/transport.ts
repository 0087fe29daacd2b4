import type { Transporter } from 'nodemailer';

export interface MailMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
}

/** Where mail leaves the process; the outbox table is used when there is none. */
export interface MailTransport {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/**
 * The longest one SMTP attempt may take, connection to the server's answer after the message:
 * past it the connection is closed and the attempt counts as failed. The outbox claim a
 * replica holds while sending is sized from it (mailer.ts), so a slow relay can never make an
 * attempt outlive the claim and let another replica send the same mail meanwhile.
 */
export const SEND_DEADLINE_MS = 60_000;

/**
 * nodemailer's own waits (2 minutes to connect, 10 minutes of socket inactivity) follow RFC
 * 5321's for relays between organisations; ours talks to the deployment's own submission
 * relay, which answers in seconds. Query parameters of SMTP_URL still override these.
 */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as const;

/**
 * nodemailer over the SMTP_URL (smtp:// or smtps://, credentials in the URL), loaded with the
 * first mail rather than at start-up: its modules take about 70 ms to load, and most starts
 * send no mail before they are needed.
 */
export function createSmtpTransport(smtpUrl: string): MailTransport {
  let transporter: Transporter | null = null;
  let loading: Promise<Transporter> | null = null;
  const open = async (): Promise<Transporter> => {
    loading ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport({ url: smtpUrl, ...TIMEOUTS }));
    transporter = await loading;
    return transporter;
  };
  return {
    async send(message) {
      await (transporter ?? (await open())).sendMail({ ...message, signal: AbortSignal.timeout(SEND_DEADLINE_MS) });
    },
    close() {
      transporter?.close();
    },
  };
}
