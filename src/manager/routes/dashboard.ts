import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { errorResponses } from '../../shared/envelope.js';
import { CONTENT_TYPES, staticFolder, uplotDistDirectory } from '../../shared/static-assets.js';

/** The chart library's browser build and stylesheet, served from our own origin (no CDN). */
const VENDOR_FILES = ['uPlot.iife.min.js', 'uPlot.min.css'];

/** url → [content type, body] for every file the console needs, read once at start-up. */
function consoleAssets(): Map<string, [string, string]> {
  const dir = staticFolder('manager/dashboard');
  const assets = new Map<string, [string, string]>();
  const add = (url: string, file: string) => assets.set(url, [CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream', readFileSync(file, 'utf8')]);
  for (const name of ['dashboard.js', 'dashboard.css', 'favicon.svg']) add(`/${name}`, path.join(dir, name));
  for (const name of readdirSync(path.join(dir, 'console')).filter((file) => file.endsWith('.js'))) {
    add(`/console/${name}`, path.join(dir, 'console', name));
  }
  const vendor = uplotDistDirectory();
  for (const name of VENDOR_FILES) add(`/vendor/${name}`, path.join(vendor, name));
  const index = path.join(dir, 'index.html');
  add('/', index);
  add('/dashboard', index);
  return assets;
}

/**
 * Static, token-free files: the page asks for the token itself and keeps it in sessionStorage.
 * Like /docs they are not rate limited: a page load fetches a dozen small files from memory,
 * which would otherwise eat a fifth of an operator's 60 API requests per minute.
 */
export function dashboardRoutes(app: App): void {
  for (const [url, [type, body]] of consoleAssets()) {
    app.get(
      url,
      {
        config: { rateLimit: false },
        schema: { tags: ['dashboard'], summary: 'Manager console asset', hide: true, response: { 200: Type.String(), ...errorResponses } },
      },
      async (_request, reply) => reply.type(type).header('cache-control', 'no-cache').send(body),
    );
  }
}
