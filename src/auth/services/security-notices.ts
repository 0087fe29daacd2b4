import { toIso } from '../../shared/clock.js';
import type { AuthContext } from '../context.js';
import { securityNoticeMail, type SecurityEvent } from '../mail/templates.js';
import { DAY_MS } from '../../shared/time.js';

/** Long enough for the operator to read it from the outbox when there is no SMTP. */
export const NOTICE_TTL_MS = 7 * DAY_MS;

/**
 * Mails the account owner a security notice (ASVS 6.3.5, 6.3.7). Called after the change
 * has been committed: a notice that cannot even be queued is logged, never turned into a
 * failed request for a change that already happened.
 */
export async function sendSecurityNotice(ctx: AuthContext, user: { id: string; email: string }, event: SecurityEvent, ip: string): Promise<void> {
  const mail = securityNoticeMail(ctx.config.auth.publicUrl, event, toIso(ctx.clock.now()), ip);
  try {
    await ctx.mailer.send({ userId: user.id, to: user.email, ...mail, ttlMs: NOTICE_TTL_MS });
  } catch (error) {
    ctx.logger.error({ err: error, userId: user.id, subject: mail.subject }, 'security notice could not be queued');
  }
}
