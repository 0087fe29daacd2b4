import type { App } from '../../shared/base-app.js';
import { createdReplies, ok, paged, pagedReplies, replies } from '../../shared/envelope.js';
import { badRequest, notFound } from '../../shared/errors.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import type { IocReport } from '../ioc-service.js';
import type { Ioc, IocView } from '../ioc-store.js';
import { guessType, normalise, NormaliseError, type IocType } from '../normalise.js';
import { UNKNOWN_REPUTATION, reputationOf } from '../reputation.js';
import {
  IocItem,
  IocListQuery,
  IocLookup,
  LookupQuery,
  MAX_CONTEXT_BYTES,
  MAX_METADATA_BYTES,
  SightingBody,
  SightingItem,
  SightingResult,
  SightingsQuery,
  StatusBody,
  ThreatsBody,
  ThreatsResult,
  ValueParams,
} from '../schemas.js';
import { durableTransaction } from '../../shared/db/durable.js';

export function toItem(ioc: IocView) {
  return {
    id: ioc.id,
    value: ioc.value,
    type: ioc.type,
    reputation: ioc.reputation,
    category: ioc.category,
    severity: ioc.severity,
    confidence: ioc.confidence,
    source: ioc.source,
    sources: ioc.sources,
    sightings: ioc.sightings,
    firstSeen: ioc.firstSeen,
    lastSeen: ioc.lastSeen,
    status: ioc.status,
    metadata: ioc.metadata,
  };
}

/** Normalises a value or answers 400 naming the field; nothing has been written yet. */
export function normalisedOr400(field: string, type: IocType, value: string): string {
  try {
    return normalise(type, value);
  } catch (error) {
    if (error instanceof NormaliseError) throw badRequest(`${field} ${error.message}`, 'INVALID_IOC');
    throw error;
  }
}

function byteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** The IoC a path or query value names (type guessed unless given), or null. */
function findByValue(context: ThreatCloudContext, raw: string, type?: IocType): { type: IocType; value: string; ioc: Ioc | null } {
  const resolvedType = type ?? guessType(raw);
  const value = normalisedOr400('value', resolvedType, raw);
  return { type: resolvedType, value, ioc: context.iocs.find(resolvedType, value) };
}

export function registerIocRoutes(app: App, context: ThreatCloudContext): void {
  const { db, iocs, audit, queryAudit, queries } = context;

  app.post(
    '/api/threats',
    {
      ...apiRoute(context, 'write'),
      schema: { operationId: 'reportIocs', tags: ['iocs'], summary: 'Report IoCs (1-100 per batch)', security: BEARER, body: ThreatsBody, response: createdReplies(ThreatsResult) },
    },
    async (request, reply) => {
      const key = request.tcKey!;
      const reports: IocReport[] = request.body.threats.map((threat, index) => {
        if (threat.metadata !== undefined && byteLength(threat.metadata) > MAX_METADATA_BYTES) {
          throw badRequest(`threats[${index}].metadata must be at most 8 KiB`);
        }
        return {
          type: threat.type,
          value: normalisedOr400(`threats[${index}].value`, threat.type, threat.value),
          source: threat.source,
          kind: 'upload',
          category: threat.category ?? null,
          severity: threat.severity ?? 'medium',
          confidence: threat.confidence ?? 0.5,
          ...(threat.metadata ? { metadata: threat.metadata } : {}),
        };
      });
      const result = durableTransaction(db, () => {
        const outcomes = iocs.mergeReports(reports, key.reporterId);
        const created = outcomes.filter((outcome) => outcome.isNew).length;
        const summary = { received: outcomes.length, new: created, updated: outcomes.length - created, iocIds: outcomes.map((o) => o.ioc.id) };
        audit.record({ action: 'create', resource: 'threats', details: { received: summary.received, new: summary.new, updated: summary.updated }, ...actor(request) });
        return summary;
      })();
      return reply.code(201).send(ok(result));
    },
  );

  app.get(
    '/api/iocs',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'listIocs', tags: ['iocs'], summary: 'List IoCs, most malicious first', security: BEARER, querystring: IocListQuery, response: pagedReplies(IocItem) },
    },
    async (request, reply) => {
      const { page = 1, limit = 50, ...filter } = request.query;
      if (filter.since !== undefined || filter.q !== undefined) await context.searchGuard(request, reply);
      const { items, total } = await queries.list(filter, page, limit);
      queryAudit.push({ resource: 'iocs', details: { ...filter, page, limit }, ...actor(request) });
      return paged(items.map(toItem), total, page, limit);
    },
  );

  app.get(
    '/api/iocs/:value',
    {
      ...apiRoute(context, 'read'),
      schema: {
        operationId: 'lookupIoc',
        tags: ['iocs'],
        summary: 'Look up one indicator (reputation 80, status unknown when never seen)',
        security: BEARER,
        params: ValueParams,
        querystring: LookupQuery,
        response: replies(IocLookup),
      },
    },
    async (request) => {
      const type = request.query.type ?? guessType(request.params.value);
      const value = normalisedOr400('value', type, request.params.value);
      const found = iocs.lookup(type, value);
      const ioc = found?.ioc ?? null;
      queryAudit.push({ resource: 'ioc', details: { type, value, found: ioc !== null }, ...actor(request) });
      if (!found) {
        return ok({ value, type, reputation: UNKNOWN_REPUTATION as 80, status: 'unknown' as const, sightings: 0 as const, message: 'No threat data found for this indicator' });
      }
      const factors = iocs.factors(found.ioc);
      return ok({
        ...toItem(found.ioc),
        reputation: found.ioc.status === 'whitelisted' ? 100 : reputationOf(factors),
        campaigns: found.campaignId === null ? [] : [found.campaignId],
        // Read only when the lookup row says there is something to read.
        relatedIocs: found.related ? iocs.store.relations(found.ioc.id) : [],
        reputationFactors: factors,
      });
    },
  );

  app.put(
    '/api/iocs/:value/status',
    {
      ...apiRoute(context, 'admin'),
      schema: {
        operationId: 'setIocStatus',
        tags: ['iocs'],
        summary: 'Set an IoC active, whitelisted (false positive, allow-listed) or revoked',
        security: BEARER,
        params: ValueParams,
        querystring: LookupQuery,
        body: StatusBody,
        response: replies(IocItem),
      },
    },
    async (request) => {
      const { ioc } = findByValue(context, request.params.value, request.query.type);
      if (!ioc) throw notFound('IoC not found');
      const updated = durableTransaction(db, () => {
        const next = iocs.setStatus(ioc, request.body.status);
        audit.record({
          action: 'update',
          resource: `ioc:${ioc.id}`,
          details: { value: ioc.value, type: ioc.type, from: ioc.status, to: next.status, reason: request.body.reason },
          ...actor(request),
        });
        return next;
      })();
      return ok(toItem(updated));
    },
  );

  app.post(
    '/api/sightings',
    {
      ...apiRoute(context, 'write'),
      schema: { operationId: 'recordSighting', tags: ['sightings'], summary: 'Record a sighting of a known IoC', security: BEARER, body: SightingBody, response: createdReplies(SightingResult) },
    },
    async (request, reply) => {
      if (request.body.context !== undefined && byteLength(request.body.context) > MAX_CONTEXT_BYTES) {
        throw badRequest('context must be at most 4 KiB');
      }
      const { ioc } = findByValue(context, request.body.value);
      if (!ioc) throw notFound('IoC not found');
      const key = request.tcKey!;
      const outcome = durableTransaction(db, () => {
        const [merged] = iocs.mergeReports(
          [{ type: ioc.type, value: ioc.value, source: request.body.source, kind: 'sighting', ...(request.body.context ? { context: request.body.context } : {}) }],
          key.reporterId,
        );
        audit.record({ action: 'create', resource: 'sightings', details: { iocId: ioc.id, sightingId: merged!.sightingId }, ...actor(request) });
        return merged!;
      })();
      return reply.code(201).send(
        ok({ sightingId: outcome.sightingId, iocValue: outcome.ioc.value, totalSightings: outcome.ioc.sightings, reputationChange: outcome.ioc.reputation - outcome.before }),
      );
    },
  );

  app.get(
    '/api/sightings',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'listSightings', tags: ['sightings'], summary: 'Sightings of one IoC, newest first', security: BEARER, querystring: SightingsQuery, response: pagedReplies(SightingItem) },
    },
    async (request) => {
      const { value: raw, page = 1, limit = 50 } = request.query;
      const { ioc, value } = findByValue(context, raw);
      queryAudit.push({ resource: 'sightings', details: { value, page, limit }, ...actor(request) });
      if (!ioc) return paged([], 0, page, limit);
      const { items, total } = queries.sightings(ioc.id, page, limit);
      return paged(items, total, page, limit);
    },
  );
}
