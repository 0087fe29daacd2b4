import { OutgoingMessage, validateHeaderName, validateHeaderValue } from 'node:http';
import { createRequire } from 'node:module';
import type { FastifyReply } from 'fastify';
import { CSP, HSTS, SECURITY_HEADERS } from './security-headers.js';

/**
 * Node's own key for the headers a response will write, or null when this Node keeps them in
 * some other way. Node checks every header name and value on the way in (setHeader) and, for
 * the headers writeHead() is handed as an object, again on the way out; the ones already in
 * this object it writes without a second check. Found by its description and kept only if a
 * header set the public way lands there as Node 20 stores it, `{ lower-case: [name, value] }`.
 */
function outgoingHeadersKey(): symbol | null {
  const probe = new OutgoingMessage();
  const key = Object.getOwnPropertySymbols(probe).find((symbol) => symbol.description === 'kOutHeaders');
  if (key === undefined) return null;
  const record = probe as unknown as Record<symbol, unknown>;
  if (record[key] !== null) return null;
  probe.setHeader('X-Probe', 'ok');
  const entry = (record[key] as Record<string, unknown> | null)?.['x-probe'];
  return Array.isArray(entry) && entry.length === 2 && entry[0] === 'X-Probe' && entry[1] === 'ok' ? key : null;
}

/**
 * Fastify's own key for the headers a reply will hand to writeHead(), or null when this Fastify
 * has none (the module or the symbol is gone in a later version).
 */
function replyHeadersKey(): symbol | null {
  try {
    const symbols = createRequire(import.meta.url)('fastify/lib/symbols.js') as { kReplyHeaders?: unknown };
    return typeof symbols.kReplyHeaders === 'symbol' ? symbols.kReplyHeaders : null;
  } catch {
    return null;
  }
}

const OUTGOING_HEADERS = outgoingHeadersKey();
const REPLY_HEADERS = replyHeadersKey();

/** The constant values, checked once here as Node would check them on every response. */
function checked(value: string, name: string): string {
  validateHeaderName(name);
  validateHeaderValue(name, value);
  return value;
}
const NOSNIFF = checked(SECURITY_HEADERS['x-content-type-options'], 'x-content-type-options');
const DENY = checked(SECURITY_HEADERS['x-frame-options'], 'x-frame-options');
const NO_REFERRER = checked(SECURITY_HEADERS['referrer-policy'], 'referrer-policy');
const PAGE_CSP = checked(CSP, 'content-security-policy');
const STRICT_TRANSPORT = checked(HSTS, 'strict-transport-security');

/**
 * A response's first headers as Node stores them, one object literal per listener kind and
 * page, so each keeps one shape across requests. Every entry is a fresh array: Node's
 * appendHeader() grows an entry in place, and a shared one would carry that into every later
 * response. The request id needs no check of its own: requestIdOf() made it, a UUID or an id
 * of [A-Za-z0-9._-], narrower than what Node lets through.
 */
const NODE_HEADERS = {
  http: (id: string) => ({
    'x-content-type-options': ['x-content-type-options', NOSNIFF],
    'x-frame-options': ['x-frame-options', DENY],
    'referrer-policy': ['referrer-policy', NO_REFERRER],
    'content-security-policy': ['content-security-policy', PAGE_CSP],
    'x-request-id': ['x-request-id', id],
  }),
  httpDocs: (id: string) => ({
    'x-content-type-options': ['x-content-type-options', NOSNIFF],
    'x-frame-options': ['x-frame-options', DENY],
    'referrer-policy': ['referrer-policy', NO_REFERRER],
    'x-request-id': ['x-request-id', id],
  }),
  https: (id: string) => ({
    'x-content-type-options': ['x-content-type-options', NOSNIFF],
    'x-frame-options': ['x-frame-options', DENY],
    'referrer-policy': ['referrer-policy', NO_REFERRER],
    'strict-transport-security': ['strict-transport-security', STRICT_TRANSPORT],
    'content-security-policy': ['content-security-policy', PAGE_CSP],
    'x-request-id': ['x-request-id', id],
  }),
  httpsDocs: (id: string) => ({
    'x-content-type-options': ['x-content-type-options', NOSNIFF],
    'x-frame-options': ['x-frame-options', DENY],
    'referrer-policy': ['referrer-policy', NO_REFERRER],
    'strict-transport-security': ['strict-transport-security', STRICT_TRANSPORT],
    'x-request-id': ['x-request-id', id],
  }),
};

/** The same headers as Fastify stores them, for a Node without the key above. */
const FASTIFY_HEADERS = {
  http: (id: string) => ({ 'x-content-type-options': NOSNIFF, 'x-frame-options': DENY, 'referrer-policy': NO_REFERRER, 'content-security-policy': PAGE_CSP, 'x-request-id': id }),
  httpDocs: (id: string) => ({ 'x-content-type-options': NOSNIFF, 'x-frame-options': DENY, 'referrer-policy': NO_REFERRER, 'x-request-id': id }),
  https: (id: string) => ({
    'x-content-type-options': NOSNIFF,
    'x-frame-options': DENY,
    'referrer-policy': NO_REFERRER,
    'strict-transport-security': STRICT_TRANSPORT,
    'content-security-policy': PAGE_CSP,
    'x-request-id': id,
  }),
  httpsDocs: (id: string) => ({ 'x-content-type-options': NOSNIFF, 'x-frame-options': DENY, 'referrer-policy': NO_REFERRER, 'strict-transport-security': STRICT_TRANSPORT, 'x-request-id': id }),
};

/** Which store the headers go into: Node's (fastest), Fastify's, or through `reply.headers()`. */
export type HeaderPath = 'node' | 'fastify' | 'portable';

/**
 * Puts the headers every response carries (the contract's "Common behaviour") on a reply:
 * the security headers, the CSP except on the docs UI (which sets its own), HSTS on TLS
 * listeners and `X-Request-Id`. Meant for the first onRequest hook, before anything else has
 * set a header; headers set later (Fastify's content type, the docs CSP, CORS) still replace
 * or join them as usual.
 *
 * Why not `reply.header()` per header, measured with callgrind per `/health` answer: it
 * lower-cases each name and stores it through one keyed store shared by every caller (4,100
 * of 78,500 instructions for these headers); and Node checks each name and value writeHead()
 * is handed, on every response (another 4,200 of the 74,400 left). Here the response's headers
 * are one fresh literal per request (a spread copy of a constant made V8 build a new hidden
 * class each time: 100,300), already in the form Node writes unchecked. `path` says which
 * way this process takes; a test holds it to 'node', so a Node or Fastify upgrade that
 * moves a key is noticed rather than silently slower. `keys` is for tests of the slower ways.
 */
export function createResponseHeaders(
  tls: boolean,
  keys: { node: symbol | null; fastify: symbol | null } = { node: OUTGOING_HEADERS, fastify: REPLY_HEADERS },
): { apply(reply: FastifyReply, requestId: string, docs: boolean): void; path: HeaderPath } {
  const fastifyKey = keys.fastify;
  const [fastifyPage, fastifyDocs] = tls ? [FASTIFY_HEADERS.https, FASTIFY_HEADERS.httpsDocs] : [FASTIFY_HEADERS.http, FASTIFY_HEADERS.httpDocs];
  const viaFastify =
    fastifyKey === null
      ? (reply: FastifyReply, requestId: string, docs: boolean) => void reply.headers(docs ? fastifyDocs(requestId) : fastifyPage(requestId))
      : (reply: FastifyReply, requestId: string, docs: boolean) => {
          (reply as unknown as Record<symbol, Record<string, string>>)[fastifyKey] = docs ? fastifyDocs(requestId) : fastifyPage(requestId);
        };
  const nodeKey = keys.node;
  if (nodeKey === null) return { path: fastifyKey === null ? 'portable' : 'fastify', apply: viaFastify };
  const [nodePage, nodeDocs] = tls ? [NODE_HEADERS.https, NODE_HEADERS.httpsDocs] : [NODE_HEADERS.http, NODE_HEADERS.httpDocs];
  return {
    path: 'node',
    apply(reply, requestId, docs) {
      const raw = reply.raw as unknown as Record<symbol, object | null>;
      // Nothing runs before the first hook that sets a header; if something ever does, keep it.
      if (raw[nodeKey] === null) raw[nodeKey] = docs ? nodeDocs(requestId) : nodePage(requestId);
      else viaFastify(reply, requestId, docs);
    },
  };
}
