import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import sensible from '@fastify/sensible';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { installErrorHandler } from './error-handler.js';
import { notFound, tooManyRequests, unavailable } from './errors.js';
import { lazySerializerBuilder } from './serialization.js';
import { createValidatorCompiler } from './validation.js';
import type { ErrorEnvelope } from './envelope.js';
import { installMetrics, type MetricsOptions } from './metrics.js';
import { createClientErrorHandler } from './client-errors.js';
import { applyConnectionLimits, closeUnfinishedRequestsOnClose, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-limits.js';
import { installJsonBodyParser } from './json-body.js';
import { nulCharacter, urlHasNul } from './nul-character.js';
import { DOCS_CSP } from './security-headers.js';
import { createResponseHeaders } from './response-headers.js';
import { installPageDepthLimit } from './page-depth.js';
import { requestLoggerFactory, writesAt } from './logger.js';
import { openApiDocumentOptions } from './openapi-document.js';
import { requestIdOf } from './request-id.js';

/** Every app of the process, whatever its transport: routes never care about TLS. */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression<RawServerDefault>,
  RawReplyDefaultExpression<RawServerDefault>,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface TlsMaterial {
  key: string | Buffer;
  cert: string | Buffer;
}

export interface BaseAppOptions {
  service: 'auth' | 'manager' | 'threat-cloud';
  title: string;
  description: string;
  version: string;
  logger?: FastifyBaseLogger;
  https?: TlsMaterial | null;
  trustProxy: boolean | string[];
  corsAllowedOrigins: string[];
  rateLimit: {
    /** Requests per minute, already scaled by RATE_LIMIT_SCALE. */
    max: number;
    keyGenerator?: (request: FastifyRequest) => string | Promise<string>;
    /**
     * Counts shared by every replica (one key prefix per service, and per route for a route's
     * own limit). A count Redis cannot take lets the request through (see shared/redis.ts).
     */
    redis?: Redis;
  };
  bodyLimit?: number;
  maxParamLength?: number;
  /** `GET /metrics` (off unless enabled). */
  metrics?: MetricsOptions;
  /** Slow-client limits; the contract's values unless a test shortens them. */
  connectionLimits?: Partial<ConnectionLimits>;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Paths the contract exempts from rate limits and for which the docs UI needs its own CSP. */
const UNLIMITED_PATHS = /^\/(health|metrics|docs)(\/|$|\?)/;

/**
 * The route whose requests' arrival and completion are not logged: a health probe every few
 * seconds from a load balancer or orchestrator would bury the log. Errors they meet are still
 * logged.
 */
const PROBE_PATH = '/health';

function isProbe(request: FastifyRequest): boolean {
  const url = request.raw.url;
  return url === PROBE_PATH || url?.startsWith(`${PROBE_PATH}?`) === true;
}

/**
 * Fastify logs a request's completion (at info) from two listeners it puts on the response and
 * takes off again, which it arms only when it has a logger or the route has `onResponse` hooks.
 * Our apps give Fastify no logger; when the app logs at info, every route that logs its
 * requests gets this hook, and Fastify's log controller writes the line after it. Probes, and
 * every route at warn and above, are spared the listeners.
 */
function armCompletionLog(_request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  done();
}

/** The 503 answer to a request that arrives while the process shuts down. */
export const SHUTTING_DOWN_MESSAGE = 'Server is shutting down';

/**
 * Builds a Fastify instance with the kernel every service shares: request ids, security
 * headers, CORS, body validation without coercion, the error envelope, rate limiting,
 * a 404 in the envelope and the OpenAPI docs. The caller registers its routes afterwards.
 */
export async function createBaseApp(options: BaseAppOptions): Promise<App> {
  const tls = options.https ?? null;
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.connectionLimits };
  const logger = options.logger ?? pino({ level: 'silent' });
  const responseHeaders = createResponseHeaders(tls !== null);
  const app = Fastify({
    // No logger for Fastify itself: with one, it arms two response listeners on every request
    // only to log its completion (about a tenth of a /health probe's server time, measured),
    // also where nothing is logged. Request loggers are ours, and the routes that log
    // completions arm the listeners themselves (armCompletionLog).
    childLoggerFactory: requestLoggerFactory(logger),
    // A TLS handshake comes before the headers: it gets the same time as they do.
    ...(tls ? { https: { key: tls.key, cert: tls.cert, handshakeTimeout: limits.headersTimeoutMs } } : {}),
    trustProxy: options.trustProxy,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    genReqId: requestIdOf,
    schemaController: { compilersFactory: { buildSerializer: lazySerializerBuilder } },
    logController: new LogController({ disableRequestLogging: isProbe }),
    routerOptions: { maxParamLength: options.maxParamLength ?? 200 },
    // Keep-alive connections must not hold a graceful shutdown open.
    forceCloseConnections: 'idle',
    // What Node's HTTP parser refuses never reaches a hook: answer it in the envelope too.
    clientErrorHandler: createClientErrorHandler({ tls: tls !== null }),
    // Fastify's own 503 while closing is not in the envelope; the onRequest hook below
    // answers it instead.
    return503OnClosing: false,
    // Router errors happen before any hook runs: answer them in the envelope with the headers.
    frameworkErrors: (error, request, reply) => {
      const status: 400 | 414 | 500 = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : error.code === 'FST_ERR_BAD_URL' ? 400 : 500;
      const message = status === 414 ? 'URL parameter is too long' : status === 400 ? 'Malformed URL' : 'Internal server error';
      if (status === 500) request.log.error({ err: error }, 'router error');
      responseHeaders.apply(reply, request.id, false);
      const body: ErrorEnvelope = { ok: false, error: message, code: error.code };
      void reply.code(status as never).send(body as never);
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;
  // Plugins and app-level code log through app.log; set before any plugin inherits it.
  app.log = logger;
  const logsCompletions = writesAt(logger, 'info');
  app.addHook('onRoute', (route) => {
    if (!logsCompletions || route.url === PROBE_PATH) return;
    const hooks = route.onResponse === undefined ? [] : Array.isArray(route.onResponse) ? route.onResponse : [route.onResponse];
    route.onResponse = [...hooks, armCompletionLog];
  });

  // After Fastify's own timeout settings, which these replace.
  applyConnectionLimits(app.server, limits);
  closeUnfinishedRequestsOnClose(app);

  app.setValidatorCompiler(createValidatorCompiler());
  // Bodies are JSON or nothing; text/plain would otherwise reach validators as a string.
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app);
  installErrorHandler(app);
  installPageDepthLimit(app);

  // Requests that reach a closing app (keep-alive or already-accepted connections) are
  // refused with the 503 envelope rather than started while the database is closing.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // The one hook every request runs, /health included: a callback hook, so no promise and
  // no extra microtask per request. The first onRequest hook: nothing has set a header yet.
  app.addHook('onRequest', (request, reply, done) => {
    responseHeaders.apply(reply, request.id, request.url.startsWith('/docs'));
    done(closing ? unavailable(SHUTTING_DOWN_MESSAGE, 'SHUTTING_DOWN') : urlHasNul(request.url) ? nulCharacter() : undefined);
  });

  if (options.corsAllowedOrigins.length > 0) {
    const anyOrigin = options.corsAllowedOrigins.includes('*');
    await app.register(cors, {
      origin: anyOrigin ? '*' : options.corsAllowedOrigins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
      maxAge: 86400,
      strictPreflight: false,
    });
  }

  const metrics = installMetrics(app, options.metrics ?? { enabled: false, service: options.service });
  await app.register(sensible);
  const { redis } = options.rateLimit;
  await app.register(rateLimit, {
    global: true,
    max: options.rateLimit.max,
    timeWindow: 60_000,
    ...(redis ? { redis, nameSpace: `panguard:rate:${options.service}:`, skipOnError: true } : {}),
    ...(options.rateLimit.keyGenerator ? { keyGenerator: options.rateLimit.keyGenerator } : {}),
    allowList: (request) => UNLIMITED_PATHS.test(request.url),
    errorResponseBuilder: (request, context) => {
      metrics.rateLimited(request.routeOptions.url ?? 'not_found');
      return tooManyRequests(Math.ceil(context.ttl / 1000));
    },
  });

  await app.register(
    swagger,
    openApiDocumentOptions({
      title: options.title,
      description: options.description,
      version: options.version,
      isRateLimited: (url) => !UNLIMITED_PATHS.test(url),
    }),
  );
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP });

  // Fastify takes every lifecycle hook here (lib/four-oh-four.js); its types name only two.
  const notFoundHooks = { preHandler: app.rateLimit(), ...(logsCompletions ? { onResponse: armCompletionLog } : {}) } as { preHandler: ReturnType<App['rateLimit']> };
  app.setNotFoundHandler(notFoundHooks, async () => {
    throw notFound();
  });

  return app;
}
