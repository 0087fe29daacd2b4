import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../shared/base-app.js';
import { Envelope, errorResponses, ok } from '../../shared/envelope.js';
import { emptyResponse, FEED_CACHE_HEADERS, mediaResponse } from '../../shared/openapi-responses.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import type { IocType } from '../normalise.js';
import { DEFAULT_THRESHOLD } from '../reputation.js';
import { AgentUpdate, AgentUpdateQuery, BlocklistQuery, IocFeed, IocFeedQuery } from '../schemas.js';
import type { FeedService } from '../services/feeds.js';

/** Every feed answers 304 without a body when the client's copy is current. */
const NOT_MODIFIED = emptyResponse('Not modified: the copy named by If-None-Match / If-Modified-Since is current', FEED_CACHE_HEADERS);
const TEXT_FEED = {
  200: mediaResponse('text/plain', Type.String(), 'Comment header, then one value per line', FEED_CACHE_HEADERS),
  304: NOT_MODIFIED,
  ...errorResponses,
};
const StixBundle = Type.Object({ type: Type.Literal('bundle'), id: Type.String(), objects: Type.Array(Type.Record(Type.String(), Type.Unknown())) });

/** `If-None-Match` (weak comparison) or, without it, `If-Modified-Since`: true when the client's copy is current. */
function isNotModified(request: FastifyRequest, etag: string, lastModified: Date): boolean {
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
    return ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => opaque(tag) === opaque(etag));
  }
  const since = request.headers['if-modified-since'];
  if (since === undefined) return false;
  const sinceMs = Date.parse(since);
  return Number.isFinite(sinceMs) && Math.floor(lastModified.getTime() / 1000) * 1000 <= sinceMs;
}

/** Sets the validators; answers 304 when the client is current. Returns true when answered. */
function conditional(feeds: FeedService, request: FastifyRequest, reply: FastifyReply, kind: string, query: unknown): boolean {
  const { etag, lastModified } = feeds.validators(kind, query);
  reply.header('etag', etag);
  reply.header('last-modified', lastModified.toUTCString());
  reply.header('cache-control', 'no-cache');
  if (!isNotModified(request, etag, lastModified)) return false;
  reply.code(304).send();
  return true;
}

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
        if (conditional(feeds, request, reply, type, { threshold, category })) return reply;
        reply.type('text/plain; charset=utf-8');
        // A stream bypasses the typed serialiser on purpose: the body is never held in memory.
        return reply.send(feeds.blocklist({ type, threshold, category }, { title, noun }) as never);
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
      if (conditional(feeds, request, reply, 'iocs', request.query)) return reply;
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
      if (conditional(feeds, request, reply, 'stix', request.query)) return reply;
      return feeds.stixBundle(request.query);
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
      if (conditional(feeds, request, reply, 'agent-update', { currentVersion: currentVersion ?? null })) return reply;
      reply.type('application/json; charset=utf-8');
      return reply.send(agentUpdate.stream(currentVersion) as never);
    },
  );
}
