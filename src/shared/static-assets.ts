import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Content types of the consoles' static files. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * A console's folder (`manager/dashboard`, `threat-cloud/console`), relative to the program:
 * src/ under tsx, dist/ once built (the build copies the assets, src/build/copy-assets.mjs).
 */
export function staticFolder(folder: string): string {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', folder);
  if (!existsSync(path.join(dir, 'index.html'))) throw new Error(`Console assets not found in ${dir} (run npm run build)`);
  return dir;
}

/** uPlot's dist folder, found through the package (wherever npm put it), not a fixed node_modules path. */
export function uplotDistDirectory(): string {
  return path.join(path.dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
}
