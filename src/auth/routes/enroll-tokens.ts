import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { createdReplies, ok, replies } from '../../shared/envelope.js';
import { principal } from '../authenticate.js';
import { EnrollTokenCreateBody, EnrollTokenCreated, EnrollTokenSummary, IdParams, Revoked } from '../schemas.js';
import type { AuthServices } from '../services/index.js';
import { BEARER } from '../../shared/openapi-responses.js';


/** Enrollment tokens with which the signed-in user installs Guard agents into their own org. */
export function registerEnrollTokenRoutes(app: App, { enrollTokens }: AuthServices): void {
  app.post(
    '/api/auth/enroll-tokens',
    {
      schema: {
        operationId: 'createEnrollToken',
        tags: ['enroll-tokens'],
        summary: 'Create an enrollment token for my Guard agents (shown once)',
        security: BEARER,
        body: EnrollTokenCreateBody,
        response: createdReplies(EnrollTokenCreated),
      },
    },
    async (request, reply) => {
      const { record, token } = await enrollTokens.create(principal(request).user, request.body.name, request.body.expiresInDays, request.ip);
      const { id, name, prefix, orgId, createdAt, expiresAt } = record;
      return reply.code(201).send(ok({ id, name, token, prefix, orgId, createdAt, expiresAt }));
    },
  );

  app.get(
    '/api/auth/enroll-tokens',
    {
      schema: {
        operationId: 'listEnrollTokens',
        tags: ['enroll-tokens'],
        summary: 'My enrollment tokens that are not revoked, without secrets',
        security: BEARER,
        response: replies(Type.Array(EnrollTokenSummary)),
      },
    },
    async (request) => ok(await enrollTokens.list(principal(request).user)),
  );

  app.delete(
    '/api/auth/enroll-tokens/:id',
    {
      schema: {
        operationId: 'revokeEnrollToken',
        tags: ['enroll-tokens'],
        summary: 'Revoke one of my enrollment tokens (agents it enrolled keep working)',
        security: BEARER,
        params: IdParams,
        response: replies(Revoked),
      },
    },
    async (request) => {
      await enrollTokens.revoke(principal(request).user, request.params.id, request.ip);
      return ok({ revoked: true as const });
    },
  );
}
