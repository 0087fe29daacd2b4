#!/usr/bin/env node
// Runs before `npm start`: compiles only when dist/ is missing or older than its inputs.
//
// Plain JavaScript on purpose: it has to run before dist/ exists, and tsc leaves .mjs files
// alone (no allowJs), so it is never compiled or copied. Even an incremental `tsc` costs
// 2.5-3.5 s on an unchanged tree (it loads and checks the whole program to find nothing to
// do); this check stats the inputs and takes a few milliseconds.
//
//   node src/build/ensure-built.mjs            build if stale, else do nothing
//   node src/build/ensure-built.mjs --check    exit 0 when up to date, 1 when stale (says why)
//   --root <dir>                               another project folder (the tests use one)
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { copyAssets } from './copy-assets.mjs';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Files at the top level that change what tsc emits (options, dependency versions). */
const ROOT_INPUTS = ['tsconfig.json', 'package.json', 'package-lock.json'];
/** Written into dist/ after a successful build: the fingerprint of the inputs it was built from. */
const STAMP = '.build-stamp';
const ENTRY = 'main.js';

/**
 * Path, size and modification time of every input: each file and folder under src/ (a folder's
 * time changes when an entry is added, removed or renamed) and the root files above. Equality,
 * not "newer than", decides: a file restored with an older time still counts as a change.
 */
export function fingerprint(root) {
  const lines = [];
  const add = (relative) => {
    const stat = lstatSync(path.join(root, relative), { throwIfNoEntry: false });
    lines.push(stat ? `${relative}\t${stat.isDirectory() ? 'd' : 'f'}\t${stat.size}\t${stat.mtimeMs}` : `${relative}\tmissing`);
    if (stat?.isDirectory()) {
      for (const name of readdirSync(path.join(root, relative)).sort()) add(path.join(relative, name));
    }
  };
  add('src');
  for (const file of ROOT_INPUTS) add(file);
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

/** Why dist/ must be rebuilt, or null when it was built from exactly the current inputs. */
export function staleReason(root) {
  const dist = path.join(root, 'dist');
  if (!existsSync(path.join(dist, ENTRY))) return `dist/${ENTRY} is missing`;
  const stamp = path.join(dist, STAMP);
  if (!existsSync(stamp)) return 'dist/ has no build stamp (built by another command)';
  if (readFileSync(stamp, 'utf8').trim() !== fingerprint(root)) return 'sources changed since the last build';
  return null;
}

/** Compiles with the project's own TypeScript, copies the assets; stamps dist/ only when tsc succeeded. */
export function build(root) {
  // Taken before compiling: a file saved while tsc runs makes the next check see a change.
  const inputs = fingerprint(root);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (result.status !== 0) return result.status ?? 1;
  copyAssets(root);
  writeFileSync(path.join(root, 'dist', STAMP), `${inputs}\n`);
  return 0;
}

function main(argv) {
  const rootFlag = argv.indexOf('--root');
  const root = rootFlag >= 0 ? path.resolve(argv[rootFlag + 1] ?? '.') : REPO_ROOT;
  const reason = staleReason(root);
  if (argv.includes('--check')) {
    process.stdout.write(reason ? `stale: ${reason}\n` : 'up to date\n');
    return reason ? 1 : 0;
  }
  if (!reason) return 0;
  process.stderr.write(`Building (${reason})...\n`);
  return build(root);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
