import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { MIGRATIONS } from '../../src/migrations/index.js';
import type { Migration } from '../../src/shared/db/migrate.js';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const MIGRATIONS_DIR = path.join(SRC, 'migrations');
const SERVICES = ['auth', 'manager', 'threat-cloud'];
const STEP_FILE = /^(\d{3})-[a-z0-9]+(?:-[a-z0-9]+)*\.ts$/;

/** The SQLite step files; `postgres/` holds the PostgreSQL baseline and its own list. */
const stepFiles = () =>
  readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name !== 'index.ts')
    .map((entry) => entry.name)
    .sort();

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return tsFilesUnder(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function relativeImports(source: string): string[] {
  const found = source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm);
  return [...found].map((match) => match[1]!);
}

/** The files of `files` that import a module of src/migrations/, with the specifier. */
function importersOfMigrations(files: string[]): string[] {
  return files.flatMap((file) =>
    relativeImports(readFileSync(file, 'utf8'))
      .filter((specifier) => {
        const target = path.resolve(path.dirname(file), specifier);
        return target === MIGRATIONS_DIR || target.startsWith(MIGRATIONS_DIR + path.sep);
      })
      .map((specifier) => `${path.relative(SRC, file)} imports ${specifier}`),
  );
}

t.test('every step file is named NNN-<what>.ts', async (t) => {
  const files = stepFiles();
  t.ok(files.length > 0);
  t.same(
    files.filter((name) => !STEP_FILE.test(name)),
    [],
    'only index.ts and numbered steps live in src/migrations/',
  );
});

t.test('the numbers run 001…N without gaps and equal the versions of MIGRATIONS, in order', async (t) => {
  const files = stepFiles();
  const numbers = files.map((name) => Number(STEP_FILE.exec(name)?.[1]));
  t.same(numbers, files.map((_, index) => index + 1), 'no gap, no repeat');
  t.same(MIGRATIONS.map((m) => m.version), numbers, 'the list holds one step per file, in file order');
  for (const [index, name] of files.entries()) {
    const step = (await import(pathToFileURL(path.join(MIGRATIONS_DIR, name)).href)) as { migration: Migration };
    t.equal(step.migration.version, numbers[index], `${name} declares its own number as version`);
    t.equal(MIGRATIONS[index], step.migration, `${name} is entry ${index + 1} of MIGRATIONS`);
  }
});

t.test('no service imports from src/migrations/ (shared SQL lives in the owning service)', async (t) => {
  t.same(
    importersOfMigrations([path.join(SRC, 'shared', 'db', 'open-storage.ts')]),
    ['shared/db/open-storage.ts imports ../../migrations/index.js', 'shared/db/open-storage.ts imports ../../migrations/postgres/index.js'],
    'the scan sees an import of the list where one exists',
  );
  const serviceFiles = SERVICES.flatMap((service) => tsFilesUnder(path.join(SRC, service)));
  t.ok(serviceFiles.length > 100, 'the three service folders were walked');
  t.same(importersOfMigrations(serviceFiles), []);
});
