import type { App } from '../../shared/base-app.js';
import { createdReplies, ok } from '../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { TrapIntelBody, TrapIntelResult } from '../schemas.js';

/** /api/trap-intel: honeypot observations (scope write). */
export function registerTrapIntelRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'trapIntel'>): void {
  const { trapIntel } = context;

  app.post(
    '/api/trap-intel',
    {
      ...apiRoute(context, 'write'),
      schema: {
        operationId: 'reportTrapIntel',
        tags: ['trap-intel'],
        summary: 'Report a honeypot observation',
        security: BEARER,
        body: TrapIntelBody,
        response: createdReplies(TrapIntelResult),
      },
    },
    async (request, reply) => reply.code(201).send(ok(await trapIntel.report(request.body, request.tcKey!.reporterId, actor(request)))),
  );
}
