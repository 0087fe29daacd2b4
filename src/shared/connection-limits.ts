import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** How long a client may take, so slow clients cannot hold connections. */
export interface ConnectionLimits {
  /** The request line and headers must arrive within this (then 408 and close). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (then 408 and close). */
  requestTimeoutMs: number;
  /** A keep-alive connection with no request in progress is closed after this. */
  keepAliveTimeoutMs: number;
  /**
   * How often Node looks for requests past the two limits above. Node's default is 30 s,
   * which would let a limit of 10 s run to 40; this keeps them close to their values.
   */
  checkIntervalMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
};

/**
 * Sets the limits on a server that is not listening yet (the check interval starts with
 * `listen`). Responses are not limited: Node applies the two request limits only until a
 * request has fully arrived, so a long response such as the SSE stream runs as long as it
 * likes; no socket inactivity timeout is set for the same reason.
 */
export function applyConnectionLimits(server: Server, limits: ConnectionLimits): void {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) throw new Error('headersTimeoutMs must not exceed requestTimeoutMs');
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // A createServer option in @types/node; Node keeps it as this property and reads it when
  // the server starts listening, like HTTPS servers made by Fastify with only key and cert.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = limits.checkIntervalMs;
}

/** A socket as Node's HTTP server uses it: the response it is writing, if any. */
type HttpSocket = Socket & { _httpMessage?: (ServerResponse & { req?: IncomingMessage }) | null };

/**
 * How long a closing server still lets requests in transit arrive (they get the 503
 * envelope, or finish if their headers came before the close) before it drops them.
 */
const ARRIVAL_GRACE_MS = 1000;

/**
 * Lets a graceful close wait only for requests that have fully arrived. Node's close keeps
 * every connection with a request in progress open, and stops enforcing the limits above:
 * a client sending a byte every few seconds (headers or body) would hold the shutdown until
 * the forced exit. So a second after the close begins, every connection is destroyed unless
 * it carries a request that was received in full and is still being answered. Destroyed
 * are: TLS handshakes and requests whose headers or body are still arriving; none of them
 * was started, so nothing a client is told succeeded is lost (idle keep-alive connections
 * Node closes at once). The requests that stay finish (streams are ended by their own
 * preClose hooks), and their connections then close instead of idling out the keep-alive
 * limit.
 *
 * Nothing here runs per request while the server is open: which request a connection carries
 * is read from Node's own socket state when the close begins and when the grace ends.
 */
export function closeUnfinishedRequestsOnClose(app: FastifyInstance): void {
  const server = app.server as Server;
  /** Every open connection: the TCP socket, and the TLS socket over it once the handshake is done. */
  const connections = new Map<Socket, HttpSocket>();
  server.on('connection', (socket: Socket) => {
    connections.set(socket, socket);
    socket.once('close', () => connections.delete(socket));
  });
  // HTTPS: requests are read from the TLS socket; its wrapped TCP socket is the one above.
  server.on('secureConnection', (tlsSocket: Socket) => {
    const tcp = (tlsSocket as Socket & { _parent?: Socket | null })._parent;
    if (tcp && connections.has(tcp)) connections.set(tcp, tlsSocket);
  });
  /** The request a connection is answering, if it arrived in full (null: none, or still arriving). */
  const answering = (socket: HttpSocket): IncomingMessage | null => {
    const request = socket._httpMessage?.req;
    return request?.complete === true ? request : null;
  };
  /** Node leaves a keep-alive connection open after its response: close it once that is out. */
  const endAfterResponse = (socket: HttpSocket) => {
    const response = socket._httpMessage;
    if (response && !response.writableFinished) response.once('finish', () => socket.end());
  };
  app.addHook('preClose', async () => {
    for (const socket of connections.values()) endAfterResponse(socket);
    // Requests arriving from now on (answered 503, or their handler runs) close their connection too.
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      response.once('finish', () => request.socket.end());
    });
    if (connections.size === 0) return;
    setTimeout(() => {
      for (const [tcp, socket] of connections) {
        if (!answering(socket)) tcp.destroy();
      }
    }, ARRIVAL_GRACE_MS).unref();
  });
}
