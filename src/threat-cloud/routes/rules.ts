import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { Envelope, errorResponses, ok, replies } from '../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { RuleOrKeyIdParams, RuleBody, RuleInfo } from '../schemas.js';

/** /api/rules: detection rules for agents (scope admin). */
export function registerRuleRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'rules'>): void {
  const { rules } = context;

  app.post(
    '/api/rules',
    {
      ...apiRoute(context, 'admin'),
      schema: {
        operationId: 'createRule',
        tags: ['rules'],
        summary: 'Create (201) or replace (200) a detection rule for agents',
        security: BEARER,
        body: RuleBody,
        response: { 200: Envelope(RuleInfo), 201: Envelope(RuleInfo), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { rule, created } = await rules.upsert(request.body, actor(request));
      return reply.code(created ? 201 : 200).send(ok(rule));
    },
  );

  app.delete(
    '/api/rules/:id',
    {
      ...apiRoute(context, 'admin'),
      schema: { operationId: 'deleteRule', tags: ['rules'], summary: 'Remove a detection rule', security: BEARER, params: RuleOrKeyIdParams, response: replies(Type.Object({ id: Type.String(), removed: Type.Literal(true) })) },
    },
    async (request) => ok(await rules.remove(request.params.id, actor(request))),
  );
}
