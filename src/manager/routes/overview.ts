import type { App } from '../../shared/base-app.js';
import { ok, replies } from '../../shared/envelope.js';
import type { Guards } from '../access.js';
import type { OverviewService } from '../services/overview.js';
import { Overview } from '../schemas.js';
import { BEARER } from '../../shared/openapi-responses.js';

export function overviewRoutes(app: App, deps: { guards: Guards; overview: OverviewService }): void {
  app.get(
    '/api/overview',
    {
      preValidation: deps.guards.operator,
      schema: { operationId: 'getOverview', tags: ['overview'], summary: 'Fleet counts, threat summary and active policy', security: BEARER, response: replies(Overview) },
    },
    async () => ok(await deps.overview.overview()),
  );
}
