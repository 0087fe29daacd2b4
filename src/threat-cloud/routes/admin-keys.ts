import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { createdReplies, ok, replies } from '../../shared/envelope.js';
import { BEARER, type ThreatCloudContext } from '../context.js';
import { CreatedKey, CreateKeyBody, RuleOrKeyIdParams, KeyInfo } from '../schemas.js';

/** /api/admin/keys: operator key administration, only with TC_ADMIN_TOKEN, never an API key. */
export function registerKeyAdminRoutes(app: App, context: Pick<ThreatCloudContext, 'adminGuard' | 'operatorKeys'>): void {
  const { operatorKeys } = context;
  const adminRoute = { config: { rateLimit: false as const }, preValidation: context.adminGuard };

  app.post(
    '/api/admin/keys',
    {
      ...adminRoute,
      schema: { operationId: 'createOperatorKey', tags: ['admin'], summary: 'Create an operator API key (shown once)', security: BEARER, body: CreateKeyBody, response: createdReplies(CreatedKey) },
    },
    async (request, reply) => reply.code(201).send(ok(await operatorKeys.create(request.body, { via: 'api', ip: request.ip }))),
  );

  app.get(
    '/api/admin/keys',
    { ...adminRoute, schema: { operationId: 'listOperatorKeys', tags: ['admin'], summary: 'Operator and bootstrap keys that are not revoked', security: BEARER, response: replies(Type.Array(KeyInfo)) } },
    async () => ok(await operatorKeys.list()),
  );

  app.delete(
    '/api/admin/keys/:id',
    {
      ...adminRoute,
      schema: {
        operationId: 'revokeOperatorKey',
        tags: ['admin'],
        summary: 'Revoke any API key; effective on its next request',
        security: BEARER,
        params: RuleOrKeyIdParams,
        response: replies(Type.Object({ id: Type.String(), revoked: Type.Literal(true) })),
      },
    },
    async (request) => ok(await operatorKeys.revoke(request.params.id, { via: 'api', ip: request.ip })),
  );
}
