import { Type, type TSchema } from '@sinclair/typebox';
import { ErrorEnvelope } from './envelope.js';

/**
 * Response schemas that document what a route really sends, in the form @fastify/swagger
 * turns into an OpenAPI response (`content` per media type, `headers`). Fastify serialises
 * a `content` response with the schema of the reply's media type, so a JSON body declared
 * this way is still serialised by its schema.
 */

/** The OpenAPI security requirement of every bearer-authenticated operation. */
export const BEARER = [{ bearer: [] as string[] }];

/** A header of an OpenAPI response, as @fastify/swagger reads it. */
type HeaderDoc = { type: 'string' | 'integer'; description: string };
export type ResponseHeaders = Record<string, HeaderDoc>;

/** Validators every feed sends, with a 304 when `If-None-Match` / `If-Modified-Since` match. */
export const FEED_CACHE_HEADERS: ResponseHeaders = {
  ETag: { type: 'string', description: 'Version of this feed for these parameters; send it back in If-None-Match' },
  'Last-Modified': { type: 'string', description: 'When the feed last changed (HTTP date); send it back in If-Modified-Since' },
  'Cache-Control': { type: 'string', description: 'no-cache: revalidate every time' },
};

const RETRY_AFTER: HeaderDoc = { type: 'integer', description: 'Seconds to wait before trying again' };

/** Headers of a 429, whichever limiter answered it (contract: README "Common behaviour"). */
export const RATE_LIMITED_HEADERS: ResponseHeaders = {
  'Retry-After': RETRY_AFTER,
  'X-RateLimit-Limit': { type: 'integer', description: 'Requests allowed in the window' },
  'X-RateLimit-Remaining': { type: 'integer', description: 'Requests left in the window' },
  'X-RateLimit-Reset': { type: 'integer', description: 'Seconds until the window resets' },
};

/** Headers of a 503: a busy or unreadable database says when to come back. */
export const UNAVAILABLE_HEADERS: ResponseHeaders = { 'Retry-After': RETRY_AFTER };

/** A response of one media type, optionally with headers. */
export function mediaResponse<T extends TSchema>(mediaType: string, schema: T, description: string, headers?: ResponseHeaders) {
  return { description, ...(headers ? { headers } : {}), content: { [mediaType]: { schema } } };
}

/** A body-less response (304) with the headers it carries. */
export function emptyResponse(description: string, headers?: ResponseHeaders) {
  return Type.Null({ description, ...(headers ? { headers } : {}) });
}

/** The error envelope as a documented response with headers (429, 503). */
export function errorResponse(description: string, headers: ResponseHeaders) {
  return mediaResponse('application/json', ErrorEnvelope, description, headers);
}
