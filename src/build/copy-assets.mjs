#!/usr/bin/env node
// Copies what tsc does not emit (the consoles' HTML, CSS, JS and icons, the bundled data
// files) from src/ into dist/ at the same relative paths, so the compiled program reads its
// assets beside itself, exactly as the sources do under tsx, and never reaches back into src/.
//
//   node src/build/copy-assets.mjs [--root <dir>]
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Source and build scripts: compiled by tsc or run in place, never shipped as assets. */
const NOT_ASSETS = /\.(ts|mjs)$/;

/** Every non-TypeScript file under src/ (except src/build/) copied to dist/; returns how many. */
export function copyAssets(root) {
  const src = path.join(root, 'src');
  let copied = 0;
  const walk = (relative) => {
    for (const entry of readdirSync(path.join(src, relative), { withFileTypes: true })) {
      const child = path.join(relative, entry.name);
      if (entry.isDirectory()) {
        if (child !== 'build') walk(child);
      } else if (!NOT_ASSETS.test(entry.name)) {
        mkdirSync(path.join(root, 'dist', relative), { recursive: true });
        copyFileSync(path.join(src, child), path.join(root, 'dist', child));
        copied++;
      }
    }
  };
  walk('');
  return copied;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rootFlag = process.argv.indexOf('--root');
  const root = rootFlag >= 0 ? path.resolve(process.argv[rootFlag + 1] ?? '.') : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  copyAssets(root);
}
