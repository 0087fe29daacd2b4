import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { answerIfCurrent } from '../../shared/conditional-get.js';
import { Envelope, errorResponses, ok } from '../../shared/envelope.js';
import { emptyResponse, FEED_CACHE_HEADERS, mediaResponse } from '../../shared/openapi-responses.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import type { IocType } from '../normalise.js';
import { DEFAULT_THRESHOLD } from '../reputation.js';
import { AgentUpdate, AgentUpdateQuery, BlocklistQuery, IocFeed, IocFeedQuery } from '../schemas.js';

/** Every feed answers 304 without a body when the client's copy is current. */
const NOT_MODIFIED = emptyResponse('Not modified: the copy named by If-None-Match / If-Modified-Since is current', FEED_CACHE_HEADERS);
const TEXT_FEED = {
  200: mediaResponse('text/plain', Type.String(), 'Comment header, then one value per line', FEED_CACHE_HEADERS),
  304: NOT_MODIFIED,
  ...errorResponses,
};
const StixBundle = Type.Object({ type: Type.Literal('bundle'), id: Type.String(), objects: Type.Array(Type.Record(Type.String(), Type.Unknown())) });

/** /api/feeds/*: blocklists, the JSON and STIX feeds, the agent update (scope read); every read audited. */
export function registerFeedRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'feeds' | 'agentUpdate'>): void {
  const { feeds, agentUpdate } = context;

  const blocklist = (path: string, operationId: string, type: IocType, title: string, noun: string) =>
    app.get(
      path,
      {
        ...apiRoute(context, 'read'),
        schema: { operationId, tags: ['feeds'], summary: `${title} (text/plain)`, security: BEARER, querystring: BlocklistQuery, response: TEXT_FEED },
      },
      async (request, reply) => {
        const threshold = request.query.maxReputation ?? request.query.minReputation ?? DEFAULT_THRESHOLD;
        const category = request.query.category ?? null;
        feeds.recordRead(path.slice('/api/feeds/'.length), { threshold, category }, actor(request));
        if (answerIfCurrent(request, reply, await feeds.validators(type, { threshold, category }))) return reply;
        reply.type('text/plain; charset=utf-8');
        // A stream bypasses the typed serialiser on purpose: the body is never held in memory.
        return reply.send((await feeds.blocklist({ type, threshold, category }, { title, noun })) as never);
      },
    );
  blocklist('/api/feeds/ip-blocklist', 'getIpBlocklist', 'ip', 'Panguard AI IP Blocklist', 'IPs');
  blocklist('/api/feeds/domain-blocklist', 'getDomainBlocklist', 'domain', 'Panguard AI Domain Blocklist', 'domains');

  app.get(
    '/api/feeds/iocs',
    {
      ...apiRoute(context, 'read'),
      schema: {
        operationId: 'getIocFeed',
        tags: ['feeds'],
        summary: 'Incremental JSON feed over the change sequence',
        security: BEARER,
        querystring: IocFeedQuery,
        response: { 200: mediaResponse('application/json', Envelope(IocFeed), 'One page of changes', FEED_CACHE_HEADERS), 304: NOT_MODIFIED, ...errorResponses },
      },
    },
    async (request, reply) => {
      feeds.recordRead('feeds/iocs', { ...request.query }, actor(request));
      if (answerIfCurrent(request, reply, await feeds.validators('iocs', request.query))) return reply;
      return ok(await feeds.iocFeed(request.query));
    },
  );

  app.get(
    '/api/feeds/stix',
    {
      ...apiRoute(context, 'read'),
      schema: {
        operationId: 'getStixFeed',
        tags: ['feeds'],
        summary: 'STIX 2.1 bundle of indicators (not enveloped)',
        security: BEARER,
        querystring: IocFeedQuery,
        response: { 200: mediaResponse('application/json', StixBundle, 'STIX 2.1 bundle: the Panguard identity, then one indicator per IoC', FEED_CACHE_HEADERS), 304: NOT_MODIFIED, ...errorResponses },
      },
    },
    async (request, reply) => {
      feeds.recordRead('feeds/stix', { ...request.query }, actor(request));
      if (answerIfCurrent(request, reply, await feeds.validators('stix', request.query))) return reply;
      return await feeds.stixBundle(request.query);
    },
  );

  app.get(
    '/api/feeds/agent-update',
    {
      ...apiRoute(context, 'read'),
      schema: {
        operationId: 'getAgentUpdate',
        tags: ['feeds'],
        summary: 'Rules and blocklists for Guard agents; with currentVersion only what changed since',
        security: BEARER,
        querystring: AgentUpdateQuery,
        response: { 200: mediaResponse('application/json', Envelope(AgentUpdate), 'Rules and blocklists', FEED_CACHE_HEADERS), 304: NOT_MODIFIED, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { currentVersion } = request.query;
      feeds.recordRead('feeds/agent-update', { currentVersion: currentVersion ?? null, agentId: request.query.agentId ?? null }, actor(request));
      if (answerIfCurrent(request, reply, await feeds.validators('agent-update', { currentVersion: currentVersion ?? null }))) return reply;
      reply.type('application/json; charset=utf-8');
      return reply.send((await agentUpdate.stream(currentVersion)) as never);
    },
  );
}
