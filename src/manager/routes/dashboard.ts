import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { errorResponses } from '../../shared/envelope.js';

const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
} as const;
type AssetName = keyof typeof ASSETS;

/**
 * The dashboard's files live in src/manager/dashboard/. `tsc` compiles only .ts into dist/,
 * so from dist/manager/routes/ the source folder is looked up as well.
 */
export function dashboardDirectory(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../dashboard'), path.resolve(here, '../../../src/manager/dashboard')];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'index.html')));
  if (!found) throw new Error(`Manager dashboard assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Static, token-free files: the page asks for the token itself and keeps it in sessionStorage. */
export function dashboardRoutes(app: App): void {
  const dir = dashboardDirectory();
  const assets = new Map<AssetName, string>(
    (Object.keys(ASSETS) as AssetName[]).map((name) => [name, readFileSync(path.join(dir, name), 'utf8')]),
  );
  const serve = (url: string, name: AssetName) =>
    app.get(
      url,
      { schema: { tags: ['dashboard'], summary: 'Fleet dashboard asset', hide: true, response: { 200: Type.String(), ...errorResponses } } },
      async (_request, reply) => reply.type(ASSETS[name]).header('cache-control', 'no-cache').send(assets.get(name) ?? ''),
    );
  serve('/', 'index.html');
  serve('/dashboard', 'index.html');
  serve('/dashboard.js', 'dashboard.js');
  serve('/dashboard.css', 'dashboard.css');
  serve('/favicon.svg', 'favicon.svg');
}
