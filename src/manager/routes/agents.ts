import type { App } from '../../shared/base-app.js';
import { Envelope, errorResponses, ok, paged, pagedReplies, replies } from '../../shared/envelope.js';
import type { Access } from '../access.js';
import type { AgentService } from '../services/agents.js';
import type { EventService } from '../services/events.js';
import {
  Agent,
  AgentDetail,
  AgentListQuery,
  EventsBody,
  EventsReply,
  HeartbeatBody,
  HeartbeatReply,
  IdParams,
  MessageReply,
  RegisteredAgent,
  RegisterBody,
} from '../schemas.js';
import { BEARER } from '../../shared/openapi-responses.js';

const EVENTS_BODY_LIMIT = 8 * 1024 * 1024;

export function agentRoutes(app: App, deps: { access: Access; agents: AgentService; events: EventService }): void {
  const { access, agents, events } = deps;
  const { guards } = access;

  app.post(
    '/api/agents/register',
    {
      preValidation: guards.enroll,
      schema: {
        operationId: 'registerAgent',
        tags: ['agents'],
        summary: 'Register an agent (idempotent per hostname + org for the operator and owner tokens); returns its agent token once',
        security: BEARER,
        body: RegisterBody,
        response: { 200: Envelope(RegisteredAgent), 201: Envelope(RegisteredAgent), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { agent, created } = await agents.register(request.body, access.registrant(request), request.ip);
      return reply.code(created ? 201 : 200).send(ok(agent));
    },
  );

  app.post(
    '/api/agents/:id/heartbeat',
    {
      // Every heartbeat field is optional, so an agent may post no body at all.
      preValidation: [
        guards.ownAgent,
        (request, _reply, done) => {
          request.body ??= {};
          done();
        },
      ],
      schema: {
        operationId: 'sendHeartbeat',
        tags: ['agents'],
        summary: "Heartbeat with the agent's metrics; tells it whether a policy is pending",
        security: BEARER,
        params: IdParams,
        body: HeartbeatBody,
        response: replies(HeartbeatReply),
      },
    },
    (request) => agents.heartbeat(request.params.id, request.body).then(ok),
  );

  app.post(
    '/api/agents/:id/events',
    {
      bodyLimit: EVENTS_BODY_LIMIT,
      preValidation: guards.ownAgent,
      schema: {
        operationId: 'reportEvents',
        tags: ['threats'],
        summary: 'Report 1-500 threat events, stored all or nothing',
        security: BEARER,
        params: IdParams,
        body: EventsBody,
        response: { 201: Envelope(EventsReply), ...errorResponses },
      },
    },
    async (request, reply) => {
      const agent = await agents.requireAgent(request.params.id);
      return reply.code(201).send(ok(await events.ingest(agent, request.body.events)));
    },
  );

  app.get(
    '/api/agents',
    {
      preValidation: guards.operator,
      schema: { operationId: 'listAgents', tags: ['agents'], summary: 'List agents', security: BEARER, querystring: AgentListQuery, response: pagedReplies(Agent) },
    },
    async (request) => {
      const { items, total, page, limit } = await agents.list(request.query);
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/agents/:id',
    {
      preValidation: guards.operator,
      schema: { operationId: 'getAgent', tags: ['agents'], summary: 'One agent with its last metrics', security: BEARER, params: IdParams, response: replies(AgentDetail) },
    },
    async (request) => ok(await agents.detail(request.params.id)),
  );

  app.delete(
    '/api/agents/:id',
    {
      preValidation: guards.operator,
      schema: { operationId: 'deregisterAgent', tags: ['agents'], summary: 'Deregister an agent (its events are kept)', security: BEARER, params: IdParams, response: replies(MessageReply) },
    },
    async (request) => {
      await agents.deregister(request.params.id);
      return ok({ message: `Agent ${request.params.id} deregistered successfully` });
    },
  );
}
