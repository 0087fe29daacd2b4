import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(ROOT, 'src');
const SERVICES = ['auth', 'manager', 'threat-cloud'] as const;

/** The top-level folder (or file) of src/ a path lies in: `auth`, `shared`, `servers.ts` … */
const areaOf = (relative: string): string => relative.split('/')[0]!;

/**
 * Why an import from `from` to `to` (both relative to src/) crosses a boundary, or null.
 * A service reaches another only through the ports it declares, which src/bridges/
 * implements and src/servers.ts wires; the shared kernel knows no service.
 */
export function boundaryViolation(from: string, to: string): string | null {
  const source = areaOf(from);
  const target = areaOf(to);
  if (source === target || !(SERVICES as readonly string[]).includes(target)) return null;
  if ((SERVICES as readonly string[]).includes(source)) return `the ${source} service imports the ${target} service (use a port and src/bridges/)`;
  if (source === 'shared') return `the shared kernel imports the ${target} service`;
  return null;
}

function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return typeScriptFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every relative import, re-export, dynamic import and `import type` of a file, relative to src/. */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map(({ fileName }) => fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => path.relative(SRC, path.resolve(path.dirname(file), specifier)).split(path.sep).join('/'));
}

t.test('the rule itself', async (t) => {
  t.match(boundaryViolation('auth/context.ts', 'manager/stores/events.js'), /auth service imports the manager/);
  t.match(boundaryViolation('threat-cloud/app.ts', 'auth/ports.js'), /threat-cloud service imports the auth/);
  t.match(boundaryViolation('shared/health.ts', 'threat-cloud/normalise.js'), /shared kernel/);
  t.equal(boundaryViolation('manager/app.ts', 'manager/services/events.js'), null, 'inside one service');
  t.equal(boundaryViolation('manager/app.ts', 'shared/clock.js'), null, 'services use the shared kernel');
  for (const bridgeOrWiring of ['bridges/index.ts', 'servers.ts', 'main.ts', 'cli/main.ts', 'smoke/runner.ts', 'migrations/index.ts']) {
    t.equal(boundaryViolation(bridgeOrWiring, 'auth/app.js'), null, `${bridgeOrWiring} may import services`);
  }
});

t.test('no file under a service folder imports another service; src/shared imports none', async (t) => {
  const files = typeScriptFiles(SRC);
  t.ok(files.length > 50, 'the walk finds the sources');
  const violations = files.flatMap((file) => {
    const from = path.relative(SRC, file).split(path.sep).join('/');
    return importsOf(file).flatMap((to) => {
      const why = boundaryViolation(from, to);
      return why ? [`src/${from} → src/${to}: ${why}`] : [];
    });
  });
  t.same(violations, [], violations.join('\n'));
});
