import type { App } from '../../shared/base-app.js';
import { ok, paged, pagedReplies, replies } from '../../shared/envelope.js';
import type { Guards } from '../access.js';
import type { EventService } from '../services/events.js';
import { SummaryQuery, Threat, ThreatQuery, ThreatSummary, ThreatTimeseries, TimeseriesQuery } from '../schemas.js';
import { BEARER } from '../../shared/openapi-responses.js';


export function threatRoutes(app: App, deps: { guards: Guards; events: EventService }): void {
  const { guards, events } = deps;

  app.get(
    '/api/threats',
    {
      preValidation: guards.operator,
      schema: { operationId: 'listThreats', tags: ['threats'], summary: 'Threat events, newest first', security: BEARER, querystring: ThreatQuery, response: pagedReplies(Threat) },
    },
    async (request) => {
      const { items, total, page, limit } = await events.query(request.query);
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/threats/summary',
    {
      preValidation: guards.operator,
      schema: { operationId: 'getThreatSummary', tags: ['threats'], summary: 'Threat counts over a period', security: BEARER, querystring: SummaryQuery, response: replies(ThreatSummary) },
    },
    async (request) => ok(await events.summary(request.query.period ?? '24h', request.query.org_id)),
  );

  app.get(
    '/api/threats/timeseries',
    {
      preValidation: guards.operator,
      schema: {
        operationId: 'getThreatTimeseries',
        tags: ['threats'],
        summary: 'Threat counts per time bucket and severity over a period (the events its summary counts), every bucket present',
        security: BEARER,
        querystring: TimeseriesQuery,
        response: replies(ThreatTimeseries),
      },
    },
    async (request) => ok(await events.timeseries(request.query.period ?? '24h', request.query.org_id)),
  );
}
