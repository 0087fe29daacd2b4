import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyInstance } from 'fastify';
import type { ErrorEnvelope } from './envelope.js';
import { freshRequestId } from './request-id.js';
import { securityHeaders } from './security-headers.js';

/** How long an answered socket may take to flush before it is destroyed anyway. */
const FLUSH_GRACE_MS = 1000;

interface ClientErrorAnswer {
  status: 400 | 408 | 431;
  body: ErrorEnvelope;
}

/**
 * Node's HTTP parser refused the request (`HPE_*`) or its headers or body took too long, so
 * no route, hook or request id exists: the answer is mapped from the error code. Anything
 * else is a broken connection (reset, a failed TLS handshake) with no HTTP to answer: null.
 */
export function clientErrorAnswer(error: Pick<ConnectionError, 'code'>): ClientErrorAnswer | null {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, body: { ok: false, error: 'Request timeout', code: 'REQUEST_TIMEOUT' } };
  if (error.code === 'HPE_HEADER_OVERFLOW') return { status: 431, body: { ok: false, error: 'Request headers too large', code: 'HEADERS_TOO_LARGE' } };
  if (typeof error.code === 'string' && error.code.startsWith('HPE_')) return { status: 400, body: { ok: false, error: 'Bad request', code: 'BAD_REQUEST' } };
  return null;
}

/** The whole HTTP/1.1 response as text: the envelope, a fresh request id, the security headers. */
export function rawErrorResponse(answer: ClientErrorAnswer, tls: boolean): string {
  const body = JSON.stringify(answer.body);
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': freshRequestId(),
    ...securityHeaders(tls),
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Set while Node writes a response on the socket; its headers may already be out. */
type HttpSocket = Socket & { _httpMessage?: { headersSent?: boolean } | null };

/**
 * Fastify's `clientErrorHandler`: answers what Node's parser refused (malformed request
 * line, conflicting Content-Length/Transfer-Encoding, oversized headers) and requests that
 * timed out, in the envelope, then closes the connection. Reading stops at once, so a body
 * that completes after a 408 never reaches a route. Nothing is written when the socket is
 * gone or a response on it has already begun (a second status line would corrupt it).
 */
export function createClientErrorHandler(options: { tls: boolean }) {
  return function onClientError(this: FastifyInstance, error: ConnectionError, socket: Socket): void {
    if (socket.destroyed) return;
    const answer = clientErrorAnswer(error);
    this.log.debug({ code: error.code, status: answer?.status }, 'client connection error');
    const inFlight = (socket as HttpSocket)._httpMessage;
    if (!answer || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    socket.pause();
    // end(), not write() + destroy(): over TLS the answer is only on the wire once flushed.
    const timer = setTimeout(() => socket.destroy(), FLUSH_GRACE_MS).unref();
    socket.end(rawErrorResponse(answer, options.tls), () => {
      clearTimeout(timer);
      socket.destroy();
    });
  };
}
