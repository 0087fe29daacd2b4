import type { App } from '../../shared/base-app.js';
import { ok, paged, pagedReplies, replies } from '../../shared/envelope.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { IocItem, IocListQuery, IocLookup, LookupQuery, StatusBody, ValueParams } from '../schemas.js';

/** /api/iocs: listing and lookup (scope read), status changes (scope admin). */
export function registerIocRoutes(app: App, context: Pick<ThreatCloudContext, 'apiKeyGuard' | 'searchGuard' | 'iocs'>): void {
  const { iocs } = context;

  app.get(
    '/api/iocs',
    {
      ...apiRoute(context, 'read'),
      schema: { operationId: 'listIocs', tags: ['iocs'], summary: 'List IoCs, most malicious first', security: BEARER, querystring: IocListQuery, response: pagedReplies(IocItem) },
    },
    async (request, reply) => {
      const { page = 1, limit = 50, ...filter } = request.query;
      if (filter.since !== undefined || filter.q !== undefined) await context.searchGuard(request, reply);
      const { items, total } = await iocs.list(filter, page, limit, actor(request));
      return paged(items, total, page, limit);
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
    async (request) => ok(await iocs.lookup(request.params.value, request.query.type, actor(request))),
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
    async (request) => ok(await iocs.setStatus(request.params.value, request.query.type, request.body, actor(request))),
  );
}
