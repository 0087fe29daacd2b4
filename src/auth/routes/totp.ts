import type { App } from '../../shared/base-app.js';
import { ok, replies } from '../../shared/envelope.js';
import { principal } from '../authenticate.js';
import { BackupCodes, Message, TotpCodeBody, TotpDisableBody, TotpSetup, TotpStatus } from '../schemas.js';
import { sendSecurityNotice } from '../mail/notices.js';
import type { AuthServices } from './services.js';

const bearer = [{ bearer: [] }];

/** TOTP two-factor: enrol, confirm, disable, status, new backup codes. */
export function registerTotpRoutes(app: App, { secondFactor, ctx }: AuthServices): void {
  app.post(
    '/api/auth/totp/setup',
    { schema: { operationId: 'setupTotp', tags: ['two-factor'], summary: 'Start enrolment: secret, otpauth URL and backup codes', security: bearer, response: replies(TotpSetup) } },
    async (request) => ok(secondFactor.setup(principal(request).user)),
  );

  app.post(
    '/api/auth/totp/verify',
    { schema: { operationId: 'verifyTotp', tags: ['two-factor'], summary: 'Confirm enrolment with a first code', security: bearer, body: TotpCodeBody, response: replies(Message) } },
    async (request) => {
      const { user } = principal(request);
      secondFactor.enable(user, request.body.totpCode);
      ctx.audit.record({ action: 'totp.enable', actorId: user.id, targetId: user.id, ip: request.ip });
      sendSecurityNotice(ctx, user, { kind: 'totp-enabled' }, request.ip);
      return ok({ message: 'Two-factor authentication enabled successfully' });
    },
  );

  app.post(
    '/api/auth/totp/disable',
    { schema: { operationId: 'disableTotp', tags: ['two-factor'], summary: 'Turn two-factor off (password and a code)', security: bearer, body: TotpDisableBody, response: replies(Message) } },
    async (request) => {
      const { user, session } = principal(request);
      const { password, totpCode, backupCode } = request.body;
      await secondFactor.disable(user, password, { totpCode, backupCode });
      const revoked = ctx.sessions.revokeOthers(user.id, session.id);
      ctx.audit.record({ action: 'totp.disable', actorId: user.id, targetId: user.id, ip: request.ip, details: { sessionsRevoked: revoked } });
      sendSecurityNotice(ctx, user, { kind: 'totp-disabled' }, request.ip);
      return ok({ message: 'Two-factor authentication disabled' });
    },
  );

  app.get(
    '/api/auth/totp/status',
    { schema: { operationId: 'getTotpStatus', tags: ['two-factor'], summary: 'Whether two-factor is on, and backup codes left', security: bearer, response: replies(TotpStatus) } },
    async (request) => ok(secondFactor.status(principal(request).user)),
  );

  app.post(
    '/api/auth/totp/backup-codes',
    { schema: { operationId: 'regenerateBackupCodes', tags: ['two-factor'], summary: 'Replace the backup codes', security: bearer, body: TotpCodeBody, response: replies(BackupCodes) } },
    async (request) => {
      const { user } = principal(request);
      const backupCodes = secondFactor.regenerateBackupCodes(user, request.body.totpCode);
      ctx.audit.record({ action: 'totp.backup_codes.regenerate', actorId: user.id, targetId: user.id, ip: request.ip });
      sendSecurityNotice(ctx, user, { kind: 'backup-codes-regenerated' }, request.ip);
      return ok({ backupCodes });
    },
  );
}
