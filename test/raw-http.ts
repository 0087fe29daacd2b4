import net from 'node:net';
import tls from 'node:tls';

/** Where to connect: plain TCP, or TLS trusting exactly `ca` (the Manager's own certificate). */
export interface RawTarget {
  port: number;
  host?: string;
  ca?: string | Buffer;
}

export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/** The first HTTP/1.1 response in `text`, or null while it is incomplete. */
export function parseResponse(text: string): RawResponse | null {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return null;
  const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = Buffer.from(text.slice(headEnd + 4), 'utf8');
  const length = Number(headers['content-length'] ?? rest.length);
  if (rest.length < length) return null;
  return { status, headers, body: rest.subarray(0, length).toString('utf8') };
}

/** One connection driven byte by byte: what it wrote, what it got, when the server closed it. */
export interface RawConnection {
  socket: net.Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves when the connection closes (by either side), with the time and whether it was reset. */
  closed: Promise<{ at: number; error: string | null }>;
  write(data: string | Buffer): void;
  destroy(): void;
}

/** Opens a connection (TLS when `ca` is given) and resolves once it can carry a request. */
export function openRaw(target: RawTarget): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const host = target.host ?? '127.0.0.1';
    const socket = target.ca
      ? tls.connect({ host, port: target.port, ca: target.ca, servername: 'localhost' })
      : net.connect({ host, port: target.port });
    const chunks: Buffer[] = [];
    let error: string | null = null;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
      reject(err);
    });
    const closed = new Promise<{ at: number; error: string | null }>((done) => socket.once('close', () => done({ at: Date.now(), error })));
    socket.once(target.ca ? 'secureConnect' : 'connect', () =>
      resolve({
        socket,
        received: () => Buffer.concat(chunks).toString('utf8'),
        closed,
        write: (data) => void socket.write(data),
        destroy: () => void socket.destroy(),
      }),
    );
  });
}

/**
 * Sends `request` as raw bytes on a new connection and waits for the server to close it
 * (rejects after `timeoutMs`): for requests a normal client would refuse to send.
 */
export async function rawExchange(target: RawTarget, request: string | Buffer, timeoutMs = 10_000): Promise<RawResponse & { raw: string; closedByServer: boolean }> {
  const connection = await openRaw(target);
  connection.write(request);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  const closed = await Promise.race([connection.closed, timeout]);
  clearTimeout(timer);
  connection.destroy();
  const raw = connection.received();
  const response = parseResponse(raw);
  if (!response) throw new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(raw.slice(0, 300))}`);
  return { ...response, raw, closedByServer: closed !== null };
}

/** Requests Node's HTTP parser refuses before any route sees them, with the answer each gets. */
export function malformedRequests(path: string): Array<{ label: string; request: string; status: 400 | 431; error: string }> {
  const bad = { status: 400 as const, error: 'Bad request' };
  return [
    { label: 'two different Content-Length headers', request: `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, ...bad },
    { label: 'Content-Length with Transfer-Encoding', request: `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, ...bad },
    { label: 'a malformed request line', request: 'HELLO THERE\r\n\r\n', ...bad },
    { label: 'a broken chunked body after valid headers', request: `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n`, ...bad },
    { label: 'a 20 KB header', request: `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(20 * 1024)}\r\n\r\n`, status: 431, error: 'Request headers too large' },
  ];
}
