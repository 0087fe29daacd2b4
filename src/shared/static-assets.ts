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
 * A console's folder under src/ (`manager/dashboard`, `threat-cloud/console`). `tsc` compiles
 * only .ts into dist/, so from dist/shared/ the source folder is looked up as well.
 */
export function staticFolder(underSrc: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '..', underSrc), path.resolve(here, '../../src', underSrc)];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'index.html')));
  if (!found) throw new Error(`Console assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** uPlot's dist folder, found through the package (wherever npm put it), not a fixed node_modules path. */
export function uplotDistDirectory(): string {
  return path.join(path.dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
}
