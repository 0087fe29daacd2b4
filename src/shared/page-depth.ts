import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { badRequest } from './errors.js';

/** The deepest row a page may start at; beyond it a list read is an export, and exports use the feeds. */
export const MAX_PAGE_OFFSET = 10_000;
export const PAGE_TOO_DEEP_MESSAGE = 'Page too deep: narrow the filters, or use the feed cursor for a full export';

type QueryProperties = Record<string, { default?: unknown } | undefined>;

function pageProperties(route: RouteOptions): QueryProperties | null {
  const properties = (route.schema?.querystring as { properties?: QueryProperties } | undefined)?.properties;
  return properties?.page && properties.limit ? properties : null;
}

/**
 * Every route whose query declares `page` and `limit` refuses pages that start beyond row
 * 10,000 (README.md "Common behaviour"): an OFFSET that deep scans and discards the rows
 * before it on the one event loop all three services share. Installed as an `onRoute` hook so
 * a list route added later cannot forget it; it runs as the route's first preHandler, after
 * authentication and query validation (which fills in the defaults).
 */
export function installPageDepthLimit(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const properties = pageProperties(route);
    if (!properties) return;
    const defaultLimit = typeof properties.limit?.default === 'number' ? properties.limit.default : 50;
    const refuseDeepPages = async (request: FastifyRequest) => {
      const { page, limit } = request.query as { page?: number; limit?: number };
      if (((page ?? 1) - 1) * (limit ?? defaultLimit) >= MAX_PAGE_OFFSET) throw badRequest(PAGE_TOO_DEEP_MESSAGE, 'PAGE_TOO_DEEP');
    };
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [refuseDeepPages, ...existing];
  });
}
