import http from 'node:http';
import https from 'node:https';

/** How a client checks a service's certificate. Verification is only ever off when asked for. */
export type TlsTrust =
  | { kind: 'system' } // Node's bundled CA list, as any HTTPS client
  | { kind: 'ca'; file: string; pem: Buffer } // exactly this certificate (e.g. the Manager's self-signed one)
  | { kind: 'insecure' }; // --insecure: no verification at all

/** What openapi-fetch accepts as its `fetch`. */
export type Fetcher = (request: Request) => Promise<Response>;

function tlsOptions(trust: TlsTrust): https.RequestOptions {
  if (trust.kind === 'ca') return { ca: trust.pem };
  if (trust.kind === 'insecure') return { rejectUnauthorized: false };
  return {};
}

/**
 * A `fetch` over node:http(s). The global fetch cannot be told to trust one certificate without
 * the undici package; node:https takes `ca` directly, and replaces the bundled CA list with it.
 */
export function fetchFor(trust: TlsTrust, timeoutMs = 15_000): Fetcher {
  return async (request) => {
    const url = new URL(request.url);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const headers: Record<string, string> = {};
    request.headers.forEach((value, key) => (headers[key] = value));
    if (body) headers['content-length'] = String(body.length);
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolve, reject) => {
      const req = client.request(
        url,
        { method: request.method, headers, timeout: timeoutMs, agent: false, ...(url.protocol === 'https:' ? tlsOptions(trust) : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const responseHeaders = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) responseHeaders.append(name, one);
            }
            const status = res.statusCode ?? 0;
            const noBody = status === 204 || status === 304 || request.method === 'HEAD';
            resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: responseHeaders }));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  };
}
