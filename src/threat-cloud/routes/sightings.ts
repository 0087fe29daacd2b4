import type { App } from '../../shared/base-app.js';
import { createdReplies, ok, paged, pagedReplies } from '../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { SightingBody, SightingItem, SightingResult, SightingsQuery } from '../schemas.js';

/** /api/sightings: sightings of known IoCs (write) and their history (read). */
export function registerSightingRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'iocs'>): void {
  const { iocs } = context;

  app.post(
    '/api/sightings',
    {
      ...apiRoute(context, 'write'),
      schema: { operationId: 'recordSighting', tags: ['sightings'], summary: 'Record a sighting of a known IoC', security: BEARER, body: SightingBody, response: createdReplies(SightingResult) },
    },
    async (request, reply) => reply.code(201).send(ok(await iocs.recordSighting(request.body, request.tcKey!.reporterId, actor(request)))),
  );

  app.get(
    '/api/sightings',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'listSightings', tags: ['sightings'], summary: 'Sightings of one IoC, newest first', security: BEARER, querystring: SightingsQuery, response: pagedReplies(SightingItem) },
    },
    async (request) => {
      const { value, page = 1, limit = 50 } = request.query;
      const { items, total } = await iocs.sightings(value, page, limit, actor(request));
      return paged(items, total, page, limit);
    },
  );
}
