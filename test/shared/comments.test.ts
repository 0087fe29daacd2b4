import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = /\.(ts|js|mjs)$/;
/** Generated or third-party text, not ours to word. */
const SKIPPED = new Set(['node_modules', 'generated', 'fixtures', 'artifacts', 'screenshots']);

/**
 * A reference to a work item ("issue 13", "finding 6", "#19") means nothing to a reader of the
 * code, who cannot look it up: a comment says the reason itself. Commit messages may cite them.
 */
export function citesWorkItem(line: string): boolean {
  return /\b(issue|finding|work[- ]item|ticket)s? #?\d+/i.test(line) || /(^|[\s(])#\d{1,4}\b(?![0-9a-f])/i.test(line.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, ''));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIPPED.has(entry.name)) return [];
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return SOURCE.test(entry.name) ? [full] : [];
  });
}

t.test('the rule itself', async (t) => {
  t.ok(citesWorkItem(' * Migration 12 (issue 13): a counter'));
  t.ok(citesWorkItem('// see finding 6'));
  t.ok(citesWorkItem('// as in #19'));
  t.notOk(citesWorkItem(' * Migration 12: a counter that moves whenever a key changes'));
  t.notOk(citesWorkItem("const colour = '#19a';"), 'a string is not a comment');
  t.notOk(citesWorkItem('  // the issuer 13 times'), 'words that merely start alike');
});

t.test('no comment in src/ or test/ cites a work-item number', async (t) => {
  const self = fileURLToPath(import.meta.url);
  const files = [...sourceFiles(path.join(ROOT, 'src')), ...sourceFiles(path.join(ROOT, 'test'))].filter((file) => file !== self);
  t.ok(files.length > 100, 'the walk finds the sources');
  const citations = files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, index) => (citesWorkItem(line) ? [`${path.relative(ROOT, file)}:${index + 1}: ${line.trim()}`] : [])),
  );
  t.same(citations, [], 'say the reason instead of the number');
});
