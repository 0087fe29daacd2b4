import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../shared/base-app.js';
import { errorResponses } from '../../shared/envelope.js';
import { notFound } from '../../shared/errors.js';
import { CONTENT_TYPES, staticFolder, uplotDistDirectory } from '../../shared/static-assets.js';

/** Our own files change with each release: the browser revalidates them (ETag) every time. */
const OWN_FILES_CACHE = 'no-cache';
/** uPlot only changes when the dependency is upgraded; an hour is short enough for that. */
const VENDOR_CACHE = 'public, max-age=3600';

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

function asset(file: string, cacheControl: string): Asset {
  const body = readFileSync(file);
  const type = CONTENT_TYPES[path.extname(file)];
  if (!type) throw new Error(`No content type for console asset ${file}`);
  return { body, type, cacheControl, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Every servable file under the console folder, by its path relative to it (`views/lookup.js`). */
function consoleAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && path.extname(entry.name) in CONTENT_TYPES) {
        assets.set(path.relative(dir, full).split(path.sep).join('/'), asset(full, OWN_FILES_CACHE));
      }
    }
  };
  walk(dir);
  const uplot = uplotDistDirectory();
  assets.set('vendor/uPlot.iife.min.js', asset(path.join(uplot, 'uPlot.iife.min.js'), VENDOR_CACHE));
  assets.set('vendor/uPlot.min.css', asset(path.join(uplot, 'uPlot.min.css'), VENDOR_CACHE));
  return assets;
}

function send(request: FastifyRequest, reply: FastifyReply, found: Asset) {
  reply.header('cache-control', found.cacheControl).header('etag', found.etag);
  if (request.headers['if-none-match'] === found.etag) return reply.code(304).send();
  return reply.type(found.type).send(found.body);
}

/**
 * The Threat Cloud console: static, key-free files read once at start-up and served from
 * memory. The page asks for the API key itself and keeps it in sessionStorage. Not behind the
 * per-IP limiter of unauthenticated requests: one page load fetches a dozen files, and the
 * limit exists to slow key guessing, which these routes cannot help with.
 */
export function registerConsoleRoutes(app: App): void {
  const assets = consoleAssets(staticFolder('threat-cloud/console'));
  const index = assets.get('index.html')!;
  const favicon = assets.get('favicon.svg');
  const schema = { tags: ['console'], summary: 'Threat Cloud console asset', hide: true, response: { 200: Type.String(), 304: Type.Null(), ...errorResponses } };
  const options = { config: { rateLimit: false as const }, schema };

  app.get('/', options, async (request, reply) => send(request, reply, index));
  if (favicon) app.get('/favicon.svg', options, async (request, reply) => send(request, reply, favicon));
  app.get('/console/*', options, async (request, reply) => {
    const found = assets.get((request.params as { '*': string })['*']);
    if (!found) throw notFound();
    return send(request, reply, found);
  });
}
