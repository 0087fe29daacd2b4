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
 * nodemailer over the SMTP_URL (smtp:// or smtps://, credentials in the URL), loaded with the
 * first mail rather than at start-up: its modules take about 70 ms to load, and most starts
 * send no mail before they are needed.
 */
export function createSmtpTransport(smtpUrl: string): MailTransport {
  let transporter: Transporter | null = null;
  let loading: Promise<Transporter> | null = null;
  const open = async (): Promise<Transporter> => {
    loading ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport(smtpUrl));
    transporter = await loading;
    return transporter;
  };
  return {
    async send(message) {
      await (transporter ?? (await open())).sendMail(message);
    },
    close() {
      transporter?.close();
    },
  };
}
