import type { App } from '../../shared/base-app.js';
import { ok, replies } from '../../shared/envelope.js';
import { principal } from '../authenticate.js';
import { BackupCodes, Message, TotpCodeBody, TotpDisableBody, TotpSetup, TotpStatus } from '../schemas.js';
import type { AuthServices } from '../services/index.js';
import { BEARER } from '../../shared/openapi-responses.js';


/** TOTP two-factor: enrol, confirm, disable, status, new backup codes. */
export function registerTotpRoutes(app: App, { secondFactor }: AuthServices): void {
  app.post(
    '/api/auth/totp/setup',
    { schema: { operationId: 'setupTotp', tags: ['two-factor'], summary: 'Start enrolment: secret, otpauth URL and backup codes', security: BEARER, response: replies(TotpSetup) } },
    async (request) => ok(await secondFactor.setup(principal(request).user)),
  );

  app.post(
    '/api/auth/totp/verify',
    { schema: { operationId: 'verifyTotp', tags: ['two-factor'], summary: 'Confirm enrolment with a first code', security: BEARER, body: TotpCodeBody, response: replies(Message) } },
    async (request) => {
      await secondFactor.enable(principal(request).user, request.body.totpCode, request.ip);
      return ok({ message: 'Two-factor authentication enabled successfully' });
    },
  );

  app.post(
    '/api/auth/totp/disable',
    { schema: { operationId: 'disableTotp', tags: ['two-factor'], summary: 'Turn two-factor off (password and a code)', security: BEARER, body: TotpDisableBody, response: replies(Message) } },
    async (request) => {
      const { password, totpCode, backupCode } = request.body;
      await secondFactor.disable(principal(request), password, { totpCode, backupCode }, request.ip);
      return ok({ message: 'Two-factor authentication disabled' });
    },
  );

  app.get(
    '/api/auth/totp/status',
    { schema: { operationId: 'getTotpStatus', tags: ['two-factor'], summary: 'Whether two-factor is on, and backup codes left', security: BEARER, response: replies(TotpStatus) } },
    async (request) => ok(await secondFactor.status(principal(request).user)),
  );

  app.post(
    '/api/auth/totp/backup-codes',
    { schema: { operationId: 'regenerateBackupCodes', tags: ['two-factor'], summary: 'Replace the backup codes', security: BEARER, body: TotpCodeBody, response: replies(BackupCodes) } },
    async (request) => {
      const backupCodes = await secondFactor.regenerateBackupCodes(principal(request).user, request.body.totpCode, request.ip);
      return ok({ backupCodes });
    },
  );
}
