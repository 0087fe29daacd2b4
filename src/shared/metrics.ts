import { Type } from '@sinclair/typebox';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { defineStatement, type Storage } from './db/storage.js';
import { poolMetrics } from './db/pool-metrics.js';
import { errorResponses } from './envelope.js';
import { unauthorized } from './errors.js';
import { bearerToken, safeEqual } from './tokens.js';

/** A service-specific gauge or counter, registered on that service's own registry. */
export type MetricsCollector = (registry: Registry) => void;

export interface MetricsOptions {
  enabled: boolean;
  token?: string | undefined;
  service: string;
  collectors?: MetricsCollector[];
}

/** The rate-limit rejection counter, reachable from the limiter's error builder. */
export interface RequestMetrics {
  rateLimited(route: string): void;
}

const NOT_FOUND_ROUTE = 'not_found';

const MISNAMED_DEFAULT_GAUGES = ['handles', 'requests', 'resources'].map((kind) => `panguard_nodejs_active_${kind}_total`);

/**
 * `GET /metrics` in Prometheus text format for one service, with its own registry (three
 * services share the process, so nothing global). Labels are route patterns and status
 * codes only — never raw URLs, ids or values — so cardinality stays bounded.
 */
export function installMetrics(app: FastifyInstance, options: MetricsOptions): RequestMetrics {
  if (!options.enabled) return { rateLimited: () => {} };
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  collectDefaultMetrics({ register: registry, prefix: 'panguard_' });
  // prom-client names three gauges like counters, which promtool rejects; the same numbers
  // remain as panguard_nodejs_active_{handles,requests,resources} by type (sum them for a total).
  for (const misnamed of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(misnamed);
  const requests = new Counter({
    name: 'panguard_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'panguard_http_request_duration_seconds',
    help: 'HTTP request latency, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'panguard_rate_limited_total',
    help: 'Requests refused with 429 by a rate limit, by route pattern',
    labelNames: ['route'] as const,
    registers: [registry],
  });
  for (const collector of options.collectors ?? []) collector(registry);

  // A callback hook: no promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? NOT_FOUND_ROUTE;
    if (route !== '/metrics') {
      const labels = { method: request.method, route, status_code: String(reply.statusCode) };
      requests.inc(labels);
      duration.observe(labels, reply.elapsedTime / 1000);
    }
    done();
  });

  app.get(
    '/metrics',
    { config: { rateLimit: false }, schema: { hide: true, response: { 200: Type.String({ description: 'Prometheus text format' }), ...errorResponses } } },
    async (request, reply) => {
      if (options.token) {
        const given = bearerToken(request.headers.authorization);
        if (!given || !safeEqual(given, options.token)) throw unauthorized('Unauthorized');
      }
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    },
  );

  return { rateLimited: (route) => rateLimited.inc({ route }) };
}

/**
 * Size of the shared database, for every service's registry: pages × page size of the SQLite
 * file (no filesystem call), or what PostgreSQL reports for the database.
 */
const DATABASE_SIZE = defineStatement<void, { bytes: number }>({
  sqlite: 'SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()',
  postgres: 'SELECT pg_database_size(current_database()) AS bytes',
});

export function databaseSizeCollector(storage: Storage): MetricsCollector {
  return (registry) => {
    new Gauge({
      name: 'panguard_database_size_bytes',
      help: 'Size of the shared database (the SQLite file, or the PostgreSQL database)',
      registers: [registry],
      async collect() {
        this.set((await storage.get(DATABASE_SIZE))?.bytes ?? 0);
      },
    });
  };
}

/** A gauge with one label whose values are read at scrape time (e.g. agents by status). */
export function labelledGauge(
  name: string,
  help: string,
  label: string,
  read: () => Record<string, number> | Promise<Record<string, number>>,
): MetricsCollector {
  return (registry) => {
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      // Counts read through the storage port arrive later; the old series are cleared only then,
      // so a concurrent scrape never sees the gauge empty.
      async collect() {
        const counts = await read();
        this.reset();
        for (const [value, count] of Object.entries(counts)) this.set({ [label]: value }, count);
      },
    });
  };
}

/** A gauge without labels read at scrape time (e.g. connected stream clients). */
export function valueGauge(name: string, help: string, read: () => number): MetricsCollector {
  return (registry) => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
}

/** The metrics options of one service: its own collectors plus the shared database's size and, on PostgreSQL, its pool. */
export function serviceMetrics(
  settings: { enabled: boolean; token?: string | undefined },
  service: string,
  storage: Storage,
  collectors: MetricsCollector[] = [],
): MetricsOptions {
  return { enabled: settings.enabled, token: settings.token, service, collectors: [databaseSizeCollector(storage), poolMetrics(storage), ...collectors] };
}
