import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** What identifies one version of a resource for a conditional GET. */
export interface CacheValidators {
  etag: string;
  lastModified: Date;
}

/**
 * `If-None-Match` (weak comparison) or, without it, `If-Modified-Since`: true when the
 * client's copy is current. HTTP dates carry whole seconds, so the comparison drops the
 * milliseconds the client could never have seen.
 */
export function isNotModified(headers: Pick<IncomingHttpHeaders, 'if-none-match' | 'if-modified-since'>, validators: CacheValidators): boolean {
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
    return ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => opaque(tag) === opaque(validators.etag));
  }
  const since = headers['if-modified-since'];
  if (since === undefined) return false;
  const sinceMs = Date.parse(since);
  return Number.isFinite(sinceMs) && Math.floor(validators.lastModified.getTime() / 1000) * 1000 <= sinceMs;
}

/**
 * Sets the validators (and `no-cache`, so clients revalidate every time); answers 304
 * without a body when the client's copy is current. Returns true when it answered.
 */
export function answerIfCurrent(request: FastifyRequest, reply: FastifyReply, validators: CacheValidators): boolean {
  reply.header('etag', validators.etag);
  reply.header('last-modified', validators.lastModified.toUTCString());
  reply.header('cache-control', 'no-cache');
  if (!isNotModified(request.headers, validators)) return false;
  reply.code(304).send();
  return true;
}
