/**
 * A failure the client caused or may see: its message goes out as `error`, its status as
 * the HTTP status. Anything that is not an AppError (or a known Fastify 4xx) becomes a 500.
 */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly statusCode: number,
    message: string,
    readonly code: string = defaultCode(statusCode),
    /** Extra machine-readable fields sent next to `error` (e.g. `totpRequired`). */
    readonly extra: Record<string, unknown> = {},
    /** Response headers the failure needs (e.g. `Retry-After`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function defaultCode(status: number): string {
  return STATUS_CODES[status] ?? 'ERROR';
}

const STATUS_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};

export const badRequest = (message: string, code?: string) => new AppError(400, message, code);
export const unauthorized = (message: string, code?: string) => new AppError(401, message, code);
export const forbidden = (message: string, code?: string) => new AppError(403, message, code);
export const notFound = (message = 'Not found', code?: string) => new AppError(404, message, code);
export const conflict = (message: string, code?: string) => new AppError(409, message, code);
export const unavailable = (message: string, code?: string) => new AppError(503, message, code);

export const RATE_LIMITED_MESSAGE = 'Too many requests. Please try again later.';
/**
 * The contract's 429. With `limit`, it also carries the rate-limit headers the route limiter
 * sends (lockouts counted in the database answer like a limiter: nothing left until reset).
 */
export function tooManyRequests(retryAfterSeconds?: number, limit?: number): AppError {
  if (retryAfterSeconds === undefined) return new AppError(429, RATE_LIMITED_MESSAGE, 'RATE_LIMITED');
  const seconds = String(retryAfterSeconds);
  const limiter: Record<string, string> = limit === undefined ? {} : { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': seconds };
  return new AppError(429, RATE_LIMITED_MESSAGE, 'RATE_LIMITED', {}, { 'retry-after': seconds, ...limiter });
}
