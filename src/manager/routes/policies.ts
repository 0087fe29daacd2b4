import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { createdReplies, ok, paged, pagedReplies, replies } from '../../shared/envelope.js';
import type { Guards } from '../access.js';
import type { AgentService } from '../services/agents.js';
import type { PolicyService } from '../services/policies.js';
import { ActivePolicyQuery, AgentPolicy, HistoryQuery, IdParams, MessageReply, OverrideBody, Policy, PolicyBody } from '../schemas.js';
import { BEARER } from '../../shared/openapi-responses.js';


export function policyRoutes(app: App, deps: { guards: Guards; agents: AgentService; policies: PolicyService }): void {
  const { guards, agents, policies } = deps;

  app.post(
    '/api/policy',
    {
      preValidation: guards.operator,
      schema: { operationId: 'createPolicy', tags: ['policies'], summary: 'Create a policy (global or for an org)', security: BEARER, body: PolicyBody, response: createdReplies(Policy) },
    },
    async (request, reply) => reply.code(201).send(ok(await policies.create(request.body))),
  );

  app.get(
    '/api/policy/active',
    {
      preValidation: guards.operator,
      schema: {
        operationId: 'getActivePolicy',
        tags: ['policies'],
        summary: 'The newest global policy, or what an agent of org_id gets',
        security: BEARER,
        querystring: ActivePolicyQuery,
        response: replies(Type.Union([Policy, Type.Null()])),
      },
    },
    async (request) => ok(await policies.active(request.query.org_id)),
  );

  app.get(
    '/api/policy/history',
    {
      preValidation: guards.operator,
      schema: { operationId: 'listPolicyHistory', tags: ['policies'], summary: 'Every policy version, newest first', security: BEARER, querystring: HistoryQuery, response: pagedReplies(Policy) },
    },
    async (request) => {
      const page = request.query.page ?? 1;
      const limit = request.query.limit ?? 50;
      const { items, total } = await policies.history(page, limit);
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/policy/agent/:id',
    {
      preValidation: guards.ownAgent,
      schema: { operationId: 'getAgentPolicy', tags: ['policies'], summary: 'The policy that applies to an agent', security: BEARER, params: IdParams, response: replies(AgentPolicy) },
    },
    async (request) => ok(await policies.forAgent(await agents.requireAgent(request.params.id))),
  );

  app.put(
    '/api/policy/agent/:id',
    {
      preValidation: guards.operator,
      schema: { operationId: 'setAgentPolicyOverride', tags: ['policies'], summary: "Set an agent's policy override (its own version)", security: BEARER, params: IdParams, body: OverrideBody, response: replies(Policy) },
    },
    async (request) => ok(await policies.setOverride(await agents.requireAgent(request.params.id), request.body.rules)),
  );

  app.delete(
    '/api/policy/agent/:id',
    {
      preValidation: guards.operator,
      schema: { operationId: 'removeAgentPolicyOverride', tags: ['policies'], summary: "Remove an agent's policy override", security: BEARER, params: IdParams, response: replies(MessageReply) },
    },
    async (request) => {
      await policies.removeOverride(await agents.requireAgent(request.params.id));
      return ok({ message: `Policy override removed for agent ${request.params.id}` });
    },
  );
}
