import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../process.js';
import { tempDir } from '../helper.js';

/** What `npm start` runs first (the prestart script). */
const SCRIPT = path.join(REPO_ROOT, 'src', 'build', 'ensure-built.mjs');

function run(root: string, ...flags: string[]) {
  const result = spawnSync(process.execPath, [SCRIPT, '--root', root, ...flags], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const check = (root: string) => run(root, '--check');

/** One whole-second time for every fixture input, so a test can put back exactly what it changed. */
const PINNED = new Date('2024-01-01T00:00:00Z');
const pin = (...paths: string[]) => paths.forEach((p) => utimesSync(p, PINNED, PINNED));

/** A project shaped like this one (src/ compiled to dist/ by tsc), small enough to build quickly. */
function project(root: string): { source: string; tsconfig: string; pinAll(): void } {
  const file = (relative: string, text: string) => writeFileSync(path.join(root, relative), text);
  mkdirSync(path.join(root, 'src', 'lib'), { recursive: true });
  file('tsconfig.json', JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', strict: true, types: [], rootDir: 'src', outDir: 'dist' }, include: ['src'] }));
  file('package.json', JSON.stringify({ name: 'fixture', type: 'module', private: true }));
  file('package-lock.json', JSON.stringify({ name: 'fixture', lockfileVersion: 3, packages: {} }));
  file('src/lib/greeting.ts', `export const greeting: string = 'hello';\n`);
  file('src/main.ts', `import { greeting } from './lib/greeting.js';\nconsole.log(greeting);\n`);
  const inputs = ['tsconfig.json', 'package.json', 'package-lock.json', 'src', 'src/lib', 'src/lib/greeting.ts', 'src/main.ts'].map((p) => path.join(root, p));
  const pinAll = () => pin(...inputs);
  pinAll();
  return { source: path.join(root, 'src', 'lib', 'greeting.ts'), tsconfig: path.join(root, 'tsconfig.json'), pinAll };
}

t.test('npm start compiles only when dist/ is missing, its inputs changed or the last compile failed', async (t) => {
  const root = tempDir(t);
  const { source, tsconfig, pinAll } = project(root);

  t.match(check(root), { status: 1, output: /stale: dist\/main\.js is missing/ }, 'no dist: stale');
  t.equal(run(root).status, 0, 'builds');
  t.ok(existsSync(path.join(root, 'dist', 'main.js')), 'tsc wrote dist/main.js');
  t.match(check(root), { status: 0, output: /up to date/ }, 'unchanged tree: nothing to do');
  const built = statSync(path.join(root, 'dist', 'main.js')).mtimeMs;
  t.equal(run(root).status, 0);
  t.equal(statSync(path.join(root, 'dist', 'main.js')).mtimeMs, built, 'a second start does not run tsc again');

  // Each change below is undone exactly, so each stale answer is that change's alone.
  const earlier = new Date(PINNED.getTime() - 86_400_000);
  utimesSync(source, earlier, earlier);
  t.match(check(root), { status: 1, output: /sources changed/ }, 'a file restored with an older time counts as a change');
  pinAll();
  t.equal(check(root).status, 0, 'the same files, sizes and times again: up to date');

  const options = readFileSync(tsconfig, 'utf8');
  writeFileSync(tsconfig, options.replace('"strict":true', '"strict":false'));
  t.equal(check(root).status, 1, 'a changed compiler option: stale');
  writeFileSync(tsconfig, options);
  pinAll();
  t.equal(check(root).status, 0);

  writeFileSync(path.join(root, 'src', 'lib', 'extra.ts'), `export const extra = 1;\n`);
  t.match(check(root), { status: 1, output: /sources changed/ }, 'a new source file: stale');
  rmSync(path.join(root, 'src', 'lib', 'extra.ts'));
  pinAll();
  t.equal(check(root).status, 0);

  const later = new Date(Date.now() + 5_000);
  utimesSync(source, later, later);
  t.match(check(root), { status: 1, output: /sources changed/ }, 'a touched source file: stale');
  t.equal(run(root).status, 0, 'rebuilds');
  t.equal(check(root).status, 0, 'and is up to date again');

  writeFileSync(source, `export const greeting: string = 42;\n`);
  const failed = run(root);
  t.not(failed.status, 0, 'a type error stops npm start');
  t.match(failed.output, /TS2322/);
  t.match(check(root), { status: 1, output: /sources changed/ }, 'still stale after a failed compile: the next start compiles again');

  rmSync(path.join(root, 'dist'), { recursive: true });
  t.match(check(root), { status: 1, output: /dist\/main\.js is missing/ }, 'dist removed: stale');
});

t.test('the build puts assets beside the compiled code, so dist/ never reads src/', async (t) => {
  const root = tempDir(t);
  project(root);
  mkdirSync(path.join(root, 'src', 'lib', 'data'), { recursive: true });
  writeFileSync(path.join(root, 'src', 'lib', 'data', 'table.json'), '{"rows":1}');
  writeFileSync(path.join(root, 'src', 'lib', 'index.html'), '<!doctype html>');
  mkdirSync(path.join(root, 'src', 'build'), { recursive: true });
  writeFileSync(path.join(root, 'src', 'build', 'tool.mjs'), '// a build script');
  t.equal(run(root).status, 0, 'built');
  t.equal(readFileSync(path.join(root, 'dist', 'lib', 'data', 'table.json'), 'utf8'), '{"rows":1}', 'data files copied at their relative path');
  t.ok(existsSync(path.join(root, 'dist', 'lib', 'index.html')), 'console files copied');
  t.notOk(existsSync(path.join(root, 'dist', 'build')), 'build scripts are not assets');
  t.notOk(existsSync(path.join(root, 'dist', 'lib', 'greeting.ts')), 'sources are compiled, not copied');
});

t.test('no module of this project reaches back into src/ for a file (it would break from dist/)', async (t) => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, name.name);
      if (name.isDirectory()) walk(full);
      else if (name.name.endsWith('.ts') && /['"`](\.\.\/)+src\//.test(readFileSync(full, 'utf8'))) offenders.push(path.relative(REPO_ROOT, full));
    }
  };
  walk(path.join(REPO_ROOT, 'src'));
  t.same(offenders, []);
});
