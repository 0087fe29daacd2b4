import { createRequire } from 'node:module';
import type { FastifyReply } from 'fastify';
import { CSP, HSTS, SECURITY_HEADERS } from './security-headers.js';

/**
 * Fastify's own key for the headers a reply will write, or null when this Fastify has none
 * (the module or the symbol is gone in a later version): then headers go through
 * `reply.header()`, slower and just as correct.
 */
function replyHeadersKey(): symbol | null {
  try {
    const symbols = createRequire(import.meta.url)('fastify/lib/symbols.js') as { kReplyHeaders?: unknown };
    return typeof symbols.kReplyHeaders === 'symbol' ? symbols.kReplyHeaders : null;
  } catch {
    return null;
  }
}

const REPLY_HEADERS = replyHeadersKey();

const NOSNIFF = SECURITY_HEADERS['x-content-type-options'];
const DENY = SECURITY_HEADERS['x-frame-options'];
const NO_REFERRER = SECURITY_HEADERS['referrer-policy'];

/**
 * A response's first headers, one object literal per listener kind and page: each literal keeps
 * one shape across requests. A spread copy of a constant object instead (`{ ...set, id }`) made
 * V8 build a new hidden class per request: 100,300 instructions per answer instead of 73,900.
 */
const FIRST_HEADERS = {
  http: (id: string) => ({ 'x-content-type-options': NOSNIFF, 'x-frame-options': DENY, 'referrer-policy': NO_REFERRER, 'content-security-policy': CSP, 'x-request-id': id }),
  httpDocs: (id: string) => ({ 'x-content-type-options': NOSNIFF, 'x-frame-options': DENY, 'referrer-policy': NO_REFERRER, 'x-request-id': id }),
  https: (id: string) => ({
    'x-content-type-options': NOSNIFF,
    'x-frame-options': DENY,
    'referrer-policy': NO_REFERRER,
    'strict-transport-security': HSTS,
    'content-security-policy': CSP,
    'x-request-id': id,
  }),
  httpsDocs: (id: string) => ({ 'x-content-type-options': NOSNIFF, 'x-frame-options': DENY, 'referrer-policy': NO_REFERRER, 'strict-transport-security': HSTS, 'x-request-id': id }),
};

/**
 * Puts the headers every response carries (the contract's "Common behaviour") on a reply:
 * the security headers, the CSP except on the docs UI (which sets its own), HSTS on TLS
 * listeners and `X-Request-Id`. Meant for the first onRequest hook, before anything else has
 * set a header.
 *
 * Why not `reply.header()` per header: it lower-cases each name and stores it through one
 * keyed store shared by every caller; for these six headers that was 4,100 of the 78,500
 * instructions a `/health` answer took (callgrind), on every request of every route. Here the
 * reply's header object is replaced by a fresh literal (FIRST_HEADERS). `usesFastPath` says
 * which way this process takes; a test holds it to the fast one, so a Fastify upgrade that
 * moves the key is noticed rather than silently slower.
 */
export function createResponseHeaders(tls: boolean): { apply(reply: FastifyReply, requestId: string, docs: boolean): void; usesFastPath: boolean } {
  const key = REPLY_HEADERS;
  const [page, docsPage] = tls ? [FIRST_HEADERS.https, FIRST_HEADERS.httpsDocs] : [FIRST_HEADERS.http, FIRST_HEADERS.httpDocs];
  if (key === null) {
    return {
      usesFastPath: false,
      apply(reply, requestId, docs) {
        reply.headers(docs ? docsPage(requestId) : page(requestId));
      },
    };
  }
  return {
    usesFastPath: true,
    apply(reply, requestId, docs) {
      (reply as unknown as Record<symbol, Record<string, string>>)[key] = docs ? docsPage(requestId) : page(requestId);
    },
  };
}
