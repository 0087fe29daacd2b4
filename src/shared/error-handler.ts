import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, RATE_LIMITED_MESSAGE } from './errors.js';
import { describeValidationError } from './validation.js';

/** Fastify's own 4xx errors, reworded for clients; anything not listed keeps Fastify's text. */
const FASTIFY_CLIENT_ERRORS: Record<string, { status: number; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, message: 'Malformed JSON body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, message: 'Request body is empty' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, message: 'Request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, message: 'Content-Type must be application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, message: 'Content-Length does not match the body' },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, message: 'Content-Type header is invalid' },
};

/**
 * SQLite failures that are about the storage, not the request: the disk is full, the file
 * became read-only or unreadable, or another writer holds the lock past the busy timeout.
 * The transaction was rolled back, so the client may retry later: 503, not 500.
 */
const STORAGE_UNAVAILABLE = /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN|BUSY|LOCKED|CORRUPT|NOTADB)/;

/**
 * The same on PostgreSQL: the server cannot be reached (network errors from the pool), is
 * shutting down or refusing connections (SQLSTATE class 08, 57P01–57P03, 53300), is out of
 * disk or memory (53100, 53200), accepts no writes (25006: a standby after a failover, or a
 * database set read-only), failed to read its files (58030), or rolled the transaction back
 * to let another one through (40001, 40P01). Errors node-postgres raises without a code are
 * recognised by their fixed messages.
 */
const POSTGRES_UNAVAILABLE = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|08\w{3}|57P0[123]|53[123]00|25006|58030|40001|40P01)$/;
const POSTGRES_UNAVAILABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Cannot use a pool after calling end)/;

function storageUnavailable(error: { code?: unknown; message?: unknown }): boolean {
  if (typeof error.code === 'string') return STORAGE_UNAVAILABLE.test(error.code) || POSTGRES_UNAVAILABLE.test(error.code);
  return typeof error.message === 'string' && POSTGRES_UNAVAILABLE_MESSAGES.test(error.message);
}

/**
 * One error handler for all three services: clients see a message only below 500;
 * anything unexpected is logged with the request id and answered "Internal server error".
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      return reply.code(error.statusCode).send({ ok: false, error: error.message, code: error.code, ...error.extra });
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation && fastifyError.validation.length > 0) {
      const message = describeValidationError(
        fastifyError.validation[0] as Parameters<typeof describeValidationError>[0],
        fastifyError.validationContext ?? 'request',
      );
      return reply.code(400).send({ ok: false, error: message, code: 'VALIDATION_ERROR' });
    }
    const known = fastifyError.code ? FASTIFY_CLIENT_ERRORS[fastifyError.code] : undefined;
    if (known) return reply.code(known.status).send({ ok: false, error: known.message, code: fastifyError.code });
    if (storageUnavailable(fastifyError)) {
      request.log.error({ err: { message: fastifyError.message, code: fastifyError.code } }, 'database unavailable');
      return reply.code(503).header('retry-after', '30').send({ ok: false, error: 'Database unavailable', code: 'DATABASE_UNAVAILABLE' });
    }
    const status = fastifyError.statusCode ?? 500;
    if (status === 429) return reply.code(429).send({ ok: false, error: RATE_LIMITED_MESSAGE, code: 'RATE_LIMITED' });
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ ok: false, error: fastifyError.message, code: fastifyError.code });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ ok: false, error: 'Internal server error', code: 'INTERNAL_ERROR' });
  });
}
