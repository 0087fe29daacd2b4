import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../shared/base-app.js';
import { Envelope, ErrorEnvelope, errorResponses, ok, replies } from '../../shared/envelope.js';
import { clientMeta, principal } from '../authenticate.js';
import {
  ChangePasswordBody,
  DeleteAccountBody,
  ExportData,
  ForgotBody,
  IdParams,
  LoginBody,
  LoginData,
  Me,
  Message,
  RegisterBody,
  RegisterCreated,
  ResetBody,
  Session,
} from '../schemas.js';
import { REGISTER_MESSAGE } from '../services/accounts.js';
import { FORGOT_MESSAGE } from '../services/passwords.js';
import type { AuthServices } from '../services/index.js';
import { BEARER } from '../../shared/openapi-responses.js';


/**
 * E-mail addresses are trimmed and lower-cased, and names trimmed, before validation, so
 * `" A@B.io "` and `"a@b.io"` are one account. Runs as the first preValidation hook.
 */
export async function normaliseIdentity(request: FastifyRequest): Promise<void> {
  const body = request.body as Record<string, unknown> | null | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  if (typeof body.email === 'string') body.email = body.email.trim().toLowerCase();
  if (typeof body.name === 'string') body.name = body.name.trim();
}

/** Public account routes: register, login, password reset. */
export function registerPublicAccountRoutes(app: App, services: AuthServices): void {
  const { accounts, passwords, limits } = services;

  app.post(
    '/api/auth/register',
    {
      config: { rateLimit: limits.register },
      preValidation: normaliseIdentity,
      schema: {
        operationId: 'registerAccount',
        security: [],
        tags: ['account'],
        summary: 'Create an account',
        body: RegisterBody,
        response: { 200: Envelope(Message), 201: Envelope(RegisterCreated), ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await accounts.register(request.body, clientMeta(request));
      if (!result.created) return reply.code(200).send(ok({ message: REGISTER_MESSAGE }));
      const { user, token, expiresAt } = result;
      return reply.code(201).send(
        ok({ message: REGISTER_MESSAGE, user: { id: user.id, email: user.email, name: user.name, createdAt: user.createdAt }, token, expiresAt }),
      );
    },
  );

  app.post(
    '/api/auth/login',
    {
      config: { rateLimit: limits.login },
      preValidation: normaliseIdentity,
      schema: {
        operationId: 'login',
        security: [],
        tags: ['account'],
        summary: 'Sign in; accounts with two-factor answer 2FA_REQUIRED until a code is sent',
        body: LoginBody,
        response: { 200: Type.Union([Envelope(LoginData), ErrorEnvelope]), ...errorResponses },
      },
    },
    async (request, reply) => {
      const outcome = await accounts.login(request.body, clientMeta(request));
      if (outcome.kind === 'second-factor-required') {
        return reply.code(200).send({ ok: false, error: '2FA_REQUIRED', totpRequired: true });
      }
      const { user, token, expiresAt } = outcome;
      return ok({ user: { id: user.id, email: user.email, name: user.name, totpEnabled: user.totpEnabled }, token, expiresAt });
    },
  );

  app.post(
    '/api/auth/forgot-password',
    {
      config: { rateLimit: limits.passwordReset },
      preValidation: normaliseIdentity,
      schema: { operationId: 'requestPasswordReset', security: [], tags: ['password'], summary: 'Mail a password-reset link', body: ForgotBody, response: replies(Message) },
    },
    async (request) => {
      // Queues the lookup, token and mail to run once this answer has been sent.
      passwords.forgotPassword(request.body.email, request.ip);
      return ok({ message: FORGOT_MESSAGE });
    },
  );

  app.post(
    '/api/auth/reset-password',
    {
      config: { rateLimit: limits.passwordReset },
      schema: { operationId: 'resetPassword', security: [], tags: ['password'], summary: 'Set a new password with a reset token', body: ResetBody, response: replies(Message) },
    },
    async (request) => {
      await passwords.resetPassword(request.body.token, request.body.newPassword, request.ip);
      return ok({ message: 'Password reset successfully' });
    },
  );
}

/** Routes of a signed-in user about their own account and sessions. */
export function registerSessionAccountRoutes(app: App, services: AuthServices): void {
  const { passwords, sessions, gdpr } = services;

  app.post(
    '/api/auth/logout',
    { schema: { operationId: 'logout', tags: ['account'], summary: 'End the current session', security: BEARER, response: replies(Message) } },
    async (request) => {
      await sessions.logout(principal(request), request.ip);
      return ok({ message: 'Logged out successfully' });
    },
  );

  app.get(
    '/api/auth/me',
    { schema: { operationId: 'getCurrentAccount', tags: ['account'], summary: 'The signed-in account', security: BEARER, response: replies(Me) } },
    async (request) => {
      const { user } = principal(request);
      return ok({
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        tier: user.tier,
        totpEnabled: user.totpEnabled,
        createdAt: user.createdAt,
        updatedAt: user.updatedAt,
      });
    },
  );

  app.post(
    '/api/auth/change-password',
    {
      schema: { operationId: 'changePassword', tags: ['password'], summary: 'Change the password; other sessions end', security: BEARER, body: ChangePasswordBody, response: replies(Message) },
    },
    async (request) => {
      await passwords.changePassword(principal(request), request.body.currentPassword, request.body.newPassword, request.ip);
      return ok({ message: 'Password changed successfully' });
    },
  );

  app.get(
    '/api/auth/sessions',
    { schema: { operationId: 'listSessions', tags: ['sessions'], summary: 'My live sessions', security: BEARER, response: replies(Type.Array(Session)) } },
    async (request) => ok(await sessions.list(principal(request))),
  );

  app.delete(
    '/api/auth/sessions/:id',
    {
      schema: { operationId: 'revokeSession', tags: ['sessions'], summary: 'Revoke one of my sessions', security: BEARER, params: IdParams, response: replies(Type.Object({ revoked: Type.Literal(true) })) },
    },
    async (request) => {
      await sessions.revoke(principal(request), request.params.id, request.ip);
      return ok({ revoked: true as const });
    },
  );

  app.post(
    '/api/auth/logout-all',
    { schema: { operationId: 'logoutAll', tags: ['sessions'], summary: 'End all my sessions', security: BEARER, response: replies(Type.Object({ message: Type.String(), revoked: Type.Integer() })) } },
    async (request) => {
      const revoked = await sessions.logoutAll(principal(request), request.ip);
      return ok({ message: 'All sessions revoked', revoked });
    },
  );

  app.get(
    '/api/auth/export-data',
    { schema: { operationId: 'exportAccountData', tags: ['gdpr'], summary: 'Everything stored about me (GDPR export)', security: BEARER, response: replies(ExportData) } },
    async (request, reply) => {
      const data = await gdpr.exportData(principal(request), request.ip);
      reply.header('content-disposition', 'attachment; filename="panguard-data-export.json"');
      return ok(data);
    },
  );

  app.delete(
    '/api/auth/delete-account',
    {
      schema: { operationId: 'deleteAccount', tags: ['gdpr'], summary: 'Delete my account and all its data', security: BEARER, body: DeleteAccountBody, response: replies(Message) },
    },
    async (request) => {
      await gdpr.deleteAccount(principal(request), request.body.password);
      return ok({ message: 'Account and all associated data have been permanently deleted' });
    },
  );
}
