import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../shared/base-app.js';
import { toIso } from '../../shared/clock.js';
import { Envelope, errorResponses, ok } from '../../shared/envelope.js';
import { badRequest } from '../../shared/errors.js';
import { emptyResponse, FEED_CACHE_HEADERS, mediaResponse } from '../../shared/openapi-responses.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { blocklistStream, decodeCursor, encodeCursor, feedEtag, type ChangeRow } from '../feeds.js';
import type { IocType } from '../normalise.js';
import { DEFAULT_THRESHOLD } from '../reputation.js';
import { panguardIdentity, stixBundleId, stixSourceOf, toStixIndicators, type StixIndicator } from '../stix.js';
import { AgentUpdate, AgentUpdateQuery, BlocklistQuery, IocFeed, IocFeedQuery, type IocFeedQuery as IocFeedQueryType } from '../schemas.js';

/** Rows of a JSON feed page read between two turns of the event loop. */
const FEED_READ_CHUNK = 500;
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
function conditional(context: ThreatCloudContext, request: FastifyRequest, reply: FastifyReply, kind: string, query: unknown): boolean {
  const seq = context.iocs.store.state('seq');
  const refresh = context.iocs.store.state('refresh');
  const etag = feedEtag(kind, seq.value, refresh.value, query);
  const stamps = [seq.updatedAt, refresh.updatedAt].filter((stamp): stamp is string => stamp !== null).map(Date.parse);
  const lastModified = new Date(stamps.length > 0 ? Math.max(...stamps) : 0);
  reply.header('etag', etag);
  reply.header('last-modified', lastModified.toUTCString());
  reply.header('cache-control', 'no-cache');
  if (!isNotModified(request, etag, lastModified)) return false;
  reply.code(304).send();
  return true;
}

function isListed(row: Pick<ChangeRow, 'status' | 'reputation'>, maxReputation: number | undefined): boolean {
  return row.status === 'active' && (maxReputation === undefined || row.reputation <= maxReputation);
}

export function registerFeedRoutes(app: App, context: ThreatCloudContext): void {
  const { feeds, queryAudit, rules, clock } = context;

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
        queryAudit.push({ resource: path.slice('/api/feeds/'.length), details: { threshold, category }, ...actor(request) });
        if (conditional(context, request, reply, type, { threshold, category })) return reply;
        reply.type('text/plain; charset=utf-8');
        // A stream bypasses the typed serialiser on purpose: the body is never held in memory.
        return reply.send(blocklistStream(feeds, { type, threshold, category }, { title, noun, generatedAt: toIso(clock.now()) }) as never);
      },
    );
  blocklist('/api/feeds/ip-blocklist', 'getIpBlocklist', 'ip', 'Panguard AI IP Blocklist', 'IPs');
  blocklist('/api/feeds/domain-blocklist', 'getDomainBlocklist', 'domain', 'Panguard AI Domain Blocklist', 'domains');

  /** Where a page of the change sequence starts, as the JSON and STIX feeds share it. */
  function pageStart(query: IocFeedQueryType): number {
    if (query.cursor !== undefined) {
      const decoded = decodeCursor(query.cursor);
      if (decoded === null) throw badRequest('cursor is invalid');
      return decoded;
    }
    return query.since !== undefined ? feeds.positionBefore(query.since) : 0;
  }

  /**
   * One page of the change sequence, read in chunks with the event loop free between them: a
   * 5,000-row page at a million IoCs held it ~100 ms in one piece. Chunks continue after the
   * last position read, so the page is the same run of the sequence either way.
   */
  async function changePage(query: IocFeedQueryType) {
    const start = pageStart(query);
    const rows: ChangeRow[] = [];
    const chunks = feeds.changesBetween(start, Number.MAX_SAFE_INTEGER, query.type ?? null, { chunk: FEED_READ_CHUNK, max: query.limit ?? 1000 });
    for await (const chunk of chunks) {
      rows.push(...chunk);
      // The generator's own awaits are microtasks: only a macrotask lets other requests in.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const nextCursor = encodeCursor(rows.length > 0 ? rows[rows.length - 1]!.change_seq : start);
    return { rows, nextCursor };
  }

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
      queryAudit.push({ resource: 'feeds/iocs', details: { ...request.query }, ...actor(request) });
      if (conditional(context, request, reply, 'iocs', request.query)) return reply;
      const { rows, nextCursor } = await changePage(request.query);
      const maxReputation = request.query.maxReputation;
      const listed = rows.filter((row) => isListed(row, maxReputation));
      const removed = rows.filter((row) => !isListed(row, maxReputation)).map((row) => ({ value: row.value, type: row.type }));
      return ok({
        generatedAt: toIso(clock.now()),
        count: rows.length,
        iocs: listed.map((row) => ({
          value: row.value,
          type: row.type,
          reputation: row.reputation,
          category: row.category,
          sightings: row.sightings,
          firstSeen: row.first_seen,
          lastSeen: row.last_seen,
          metadata: JSON.parse(row.metadata) as Record<string, unknown>,
        })),
        removed,
        nextCursor,
      });
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
      queryAudit.push({ resource: 'feeds/stix', details: { ...request.query }, ...actor(request) });
      if (conditional(context, request, reply, 'stix', request.query)) return reply;
      const rows = feeds.stixChangesAfter(pageStart(request.query), request.query.type ?? null, request.query.limit ?? 1000);
      const view = { maxReputation: request.query.maxReputation, now: clock.now() };
      const indicators: StixIndicator[] = [];
      // None for CVEs. Whitelisted and revoked IoCs stay in as revoked indicators, and expired or
      // above-threshold ones with a valid_until, so a SIEM withdraws them.
      for (const row of rows) indicators.push(...toStixIndicators(stixSourceOf(row), view));
      return { type: 'bundle' as const, id: stixBundleId(indicators), objects: [panguardIdentity(), ...indicators] };
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
      queryAudit.push({ resource: 'feeds/agent-update', details: { currentVersion: currentVersion ?? null, agentId: request.query.agentId ?? null }, ...actor(request) });
      if (conditional(context, request, reply, 'agent-update', { currentVersion: currentVersion ?? null })) return reply;
      const until = feeds.lastSeq();
      const requested = currentVersion === undefined ? null : Number(currentVersion.slice(1));
      // A version from the future (another server, a reset database) gets a full update.
      const since = requested !== null && requested <= until ? requested : null;
      reply.type('application/json; charset=utf-8');
      return reply.send(Readable.from(agentUpdateJson(context, since, until)) as never);
    },
  );

  /**
   * The agent update streamed as the enveloped JSON of the `AgentUpdate` schema: the
   * blocklists of a full update can hold a million entries, so they are written chunk by
   * chunk instead of being serialised from one in-memory object.
   */
  async function* agentUpdateJson(ctx: ThreatCloudContext, since: number | null, until: number): AsyncGenerator<string> {
    const rulesPart =
      since === null
        ? (() => {
            const live = rules.live();
            return { added: live.map((rule) => rule.id), updated: [] as string[], removed: [] as string[], files: live.map(({ id, name, content }) => ({ id, name, content })) };
          })()
        : (() => {
            const changed = rules.changedAfter(since).filter((rule) => rule.changeSeq <= until);
            const live = changed.filter((rule) => rule.deletedAt === null);
            return {
              added: live.filter((rule) => rule.createdAt === rule.updatedAt).map((rule) => rule.id),
              updated: live.filter((rule) => rule.createdAt !== rule.updatedAt).map((rule) => rule.id),
              removed: changed.filter((rule) => rule.deletedAt !== null).map((rule) => rule.id),
              files: live.map(({ id, name, content }) => ({ id, name, content })),
            };
          })();
    yield `{"ok":true,"data":{"version":${JSON.stringify(`v${until}`)},"rules":{"atr":${JSON.stringify(rulesPart)}},"iocs":{`;
    const lists: Array<[string, IocType]> = [['ipBlocklist', 'ip'], ['domainBlocklist', 'domain'], ['hashBlocklist', 'hash']];
    for (const [index, [name, type]] of lists.entries()) {
      yield `${index > 0 ? ',' : ''}${JSON.stringify(name)}:[`;
      let first = true;
      const chunks =
        since === null
          ? ctx.feeds.listedValues({ type, threshold: DEFAULT_THRESHOLD, category: null })
          : mapChunks(ctx.feeds.changesBetween(since, until, type), (rows) => rows.filter((row) => isListed(row, DEFAULT_THRESHOLD)).map((row) => row.value));
      for await (const values of chunks) {
        if (values.length === 0) continue;
        yield `${first ? '' : ','}${JSON.stringify(values).slice(1, -1)}`;
        first = false;
      }
      yield ']';
    }
    yield ',"removed":[';
    if (since !== null) {
      let first = true;
      for await (const rows of ctx.feeds.changesBetween(since, until, null)) {
        const removed = rows.filter((row) => !isListed(row, DEFAULT_THRESHOLD)).map((row) => ({ value: row.value, type: row.type }));
        if (removed.length === 0) continue;
        yield `${first ? '' : ','}${JSON.stringify(removed).slice(1, -1)}`;
        first = false;
      }
    }
    yield `]},"config":{"heartbeatInterval":60,"logLevel":"info"}}}`;
  }
}

async function* mapChunks<T, U>(source: AsyncGenerator<T>, map: (chunk: T) => U): AsyncGenerator<U> {
  for await (const chunk of source) yield map(chunk);
}
