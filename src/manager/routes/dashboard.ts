import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { errorResponses } from '../../shared/envelope.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The chart library's browser build and stylesheet, served from our own origin (no CDN). */
const VENDOR_FILES = ['uPlot.iife.min.js', 'uPlot.min.css'];

/**
 * The console's files live in src/manager/dashboard/. `tsc` compiles only .ts into dist/,
 * so from dist/manager/routes/ the source folder is looked up as well.
 */
export function dashboardDirectory(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../dashboard'), path.resolve(here, '../../../src/manager/dashboard')];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'index.html')));
  if (!found) throw new Error(`Manager dashboard assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** uPlot's dist folder, found through the package (wherever npm put it), not a fixed node_modules path. */
export function uplotDistDirectory(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');
}

/** url → [content type, body] for every file the console needs, read once at start-up. */
function consoleAssets(): Map<string, [string, string]> {
  const dir = dashboardDirectory();
  const assets = new Map<string, [string, string]>();
  const add = (url: string, file: string) => assets.set(url, [TYPES[path.extname(file)] ?? 'application/octet-stream', readFileSync(file, 'utf8')]);
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
