import type { App } from '../../shared/base-app.js';
import { createdReplies, ok } from '../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { ThreatsBody, ThreatsResult } from '../schemas.js';

/** /api/threats: IoC uploads (scope write). */
export function registerThreatRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'iocs'>): void {
  const { iocs } = context;

  app.post(
    '/api/threats',
    {
      ...apiRoute(context, 'write'),
      schema: { operationId: 'reportIocs', tags: ['iocs'], summary: 'Report IoCs (1-100 per batch)', security: BEARER, body: ThreatsBody, response: createdReplies(ThreatsResult) },
    },
    async (request, reply) => reply.code(201).send(ok(await iocs.report(request.body.threats, request.tcKey!.reporterId, actor(request)))),
  );
}
