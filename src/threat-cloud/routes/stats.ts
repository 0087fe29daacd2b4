import type { App } from '../../shared/base-app.js';
import { ok, replies } from '../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { Stats } from '../schemas.js';

/** /api/stats: totals and the last 24 hours (scope read). */
export function registerStatsRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'stats'>): void {
  const { stats } = context;

  app.get(
    '/api/stats',
    { ...apiRoute(context, 'read'), schema: { operationId: 'getStats', tags: ['stats'], summary: 'Totals and the last 24 hours', security: BEARER, response: replies(Stats) } },
    async (request) => ok(await stats.read(actor(request))),
  );
}
