import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { createdReplies, ok, replies } from '../../shared/envelope.js';
import { principal } from '../authenticate.js';
import { ApiKeyCreateBody, ApiKeyCreated, ApiKeySummary, IdParams, Revoked } from '../schemas.js';
import type { AuthServices } from '../services/index.js';
import { BEARER } from '../../shared/openapi-responses.js';


/** Threat Cloud API keys owned by the signed-in user. */
export function registerApiKeyRoutes(app: App, { apiKeys }: AuthServices): void {
  app.post(
    '/api/auth/api-keys',
    { schema: { operationId: 'createApiKey', tags: ['api-keys'], summary: 'Create a Threat Cloud API key (shown once)', security: BEARER, body: ApiKeyCreateBody, response: createdReplies(ApiKeyCreated) } },
    async (request, reply) => {
      const { user } = principal(request);
      const { record, key } = await apiKeys.create(user, request.body.name, request.body.scopes, request.ip);
      return reply.code(201).send(
        ok({ id: record.id, name: record.name, key, prefix: record.prefix, scopes: record.scopes, tier: record.tier, createdAt: record.createdAt }),
      );
    },
  );

  app.get(
    '/api/auth/api-keys',
    { schema: { operationId: 'listApiKeys', tags: ['api-keys'], summary: 'My live API keys, without secrets', security: BEARER, response: replies(Type.Array(ApiKeySummary)) } },
    async (request) =>
      ok(
        (await apiKeys.list(principal(request).user)).map((k) => ({ id: k.id, name: k.name, prefix: k.prefix, scopes: k.scopes, tier: k.tier, createdAt: k.createdAt })),
      ),
  );

  app.delete(
    '/api/auth/api-keys/:id',
    { schema: { operationId: 'revokeApiKey', tags: ['api-keys'], summary: 'Revoke one of my API keys', security: BEARER, params: IdParams, response: replies(Revoked) } },
    async (request) => {
      await apiKeys.revoke(principal(request).user, request.params.id, request.ip);
      return ok({ revoked: true as const });
    },
  );
}
