import path from 'node:path';
import t from 'tap';
import {
  ALLOWED,
  checkAgainstAllowList,
  compileErrors,
  describeFinding,
  findFloatingPromises,
  programFromConfig,
  programFromSources,
  ROOT,
  type FloatingPromise,
} from '../floating-promises.js';

// Fixtures live at a path that exists only in memory; they import the real storage port.
const FIXTURES = 'test/floating-fixtures';

const PRELUDE = `
import t from 'tap';
import { defineStatement, type Storage, type Transaction } from '../../src/shared/db/storage.js';
declare const storage: Storage;
declare const tx: Transaction;
declare const rows: { name: string }[];
declare const flag: boolean;
declare function later(): Promise<number>;
const insert = defineStatement<{ name: string }>('INSERT INTO items (name) VALUES (@name)');
const count = defineStatement<void, { n: number }>('SELECT count(*) AS n FROM items');
`;

/** Each must be reported exactly once; `storageCall` says whether the port is to blame. */
const FLOATING: Record<string, { body: string; storageCall: boolean }> = {
  'bare-run': { body: `storage.run(count);`, storageCall: true },
  'inside-a-transaction': { body: `await storage.transaction({ durable: false }, async (tx) => { tx.run(insert, { name: 'a' }); });`, storageCall: true },
  'parenthesised': { body: `(storage.get(count));`, storageCall: true },
  'then-without-rejection-handler': { body: `storage.all(count).then((found) => found.length);`, storageCall: true },
  'finally-passes-the-rejection-on': { body: `storage.close().finally(() => {});`, storageCall: true },
  'savepoint': { body: `tx.savepoint(async (nested) => nested.run(count));`, storageCall: true },
  'behind-a-condition': { body: `flag && tx.run(insert, { name: 'b' });`, storageCall: true },
  'either-branch': { body: `flag ? undefined : storage.transaction({ durable: true }, async () => 1);`, storageCall: true },
  'any-other-promise': { body: `later();`, storageCall: false },
  'async-callback-to-forEach': { body: `rows.forEach(async (row) => { await tx.run(insert, row); });`, storageCall: true },
  'async-function-typed-as-void': { body: `const onTick: () => void = async () => { await storage.run(count); };`, storageCall: true },
  'timer-callback-returning-a-write': { body: `setTimeout(() => storage.run(count), 10);`, storageCall: true },
  'a-storage-call-voided': { body: `void storage.run(count);`, storageCall: true },
};

/** None may be reported. */
const HANDLED: Record<string, string> = {
  'awaited': `await storage.run(count);`,
  'returned': `export async function f() { return storage.get(count); }`,
  'fire-and-forget-voided': `void later();`,
  'stored-in-a-variable': `const pending = storage.run(count); await pending;`,
  'assigned': `let pending: Promise<unknown>; pending = storage.run(count); await pending;`,
  'an-argument-of-promise-all': `await Promise.all([storage.run(insert, { name: 'a' }), tx.run(insert, { name: 'b' })]);`,
  'returned-by-an-arrow-body': `const write = () => storage.run(count); await write();`,
  'an-arrow-body-where-a-promise-is-expected': `await storage.transaction({ durable: false }, (tx) => tx.run(count));`,
  'async-callbacks-collected': `await Promise.all(rows.map(async (row) => tx.run(insert, row)));`,
  'awaited-in-a-loop': `for (const row of rows) await tx.run(insert, row);`,
  'caught': `storage.run(count).catch(() => {});`,
  'then-with-a-rejection-handler': `later().then(() => {}, () => {});`,
  'caught-then-finally': `storage.close().catch(() => {}).finally(() => {});`,
  'a-thenable-that-is-not-a-promise': `const reply = { header(_: string) { return reply; }, then(resolve: (value: unknown) => void) { resolve(1); } }; reply.header('x');`,
  'a-tap-subtest': `t.test('queued by tap, which waits for it', async () => {});`,
};

const fixturePath = (name: string) => `${FIXTURES}/${name}.ts`;
const sources = Object.fromEntries([
  ...Object.entries(FLOATING).map(([name, { body }]) => [fixturePath(name), `${PRELUDE}\n${body}\nexport {};\n`]),
  ...Object.entries(HANDLED).map(([name, body]) => [fixturePath(name), `${PRELUDE}\n${body}\nexport {};\n`]),
]);

t.test('the rule on fixtures compiled with the real storage port', async (t) => {
  const program = programFromSources(sources);
  t.same(compileErrors(program, Object.keys(sources)), [], 'every fixture type-checks, so none passes by accident');
  const findings = findFloatingPromises(program, [FIXTURES]);
  const inFixture = (name: string) => findings.filter((finding) => finding.file === fixturePath(name));

  for (const [name, { body, storageCall }] of Object.entries(FLOATING)) {
    const found = inFixture(name);
    t.equal(found.length, 1, `caught: ${body}`);
    t.equal(found[0]?.storageCall, storageCall, `${name}: ${storageCall ? 'a storage call' : 'not a storage call'}`);
  }
  for (const [name, body] of Object.entries(HANDLED)) {
    t.same(inFixture(name).map(describeFinding), [], `not reported: ${body}`);
  }
});

t.test('the allow-list comparison: new findings are refused, stale entries are reported', async (t) => {
  const finding: FloatingPromise = { file: 'src/a.ts', line: 3, text: 'work();', kind: 'statement', storageCall: false };
  const entry = { file: 'src/a.ts', text: 'work();', reason: 'fixture' };
  t.same(checkAgainstAllowList([finding], [entry]), { unexpected: [], stale: [] });
  t.same(checkAgainstAllowList([{ ...finding, line: 9 }], [entry]).unexpected, [], 'an entry follows its statement to another line');
  t.same(checkAgainstAllowList([finding], []).unexpected, [finding]);
  t.same(checkAgainstAllowList([], [entry]).stale, [entry]);
});

t.test('no promise floats in src/ or test/: every storage call is awaited, returned or passed on', async (t) => {
  const program = programFromConfig(path.join(ROOT, 'test/tsconfig.json'));
  const files = program.getSourceFiles().filter((file) => !file.isDeclarationFile && file.fileName.startsWith(path.join(ROOT, 'src') + path.sep));
  t.ok(files.length > 100, 'the program holds the sources');
  const findings = findFloatingPromises(program, ['src', 'test']);
  const { unexpected, stale } = checkAgainstAllowList(findings);
  t.same(unexpected.map(describeFinding), [], 'await it, return it, or discard it explicitly with `void` (never a storage call)');
  t.same(stale, [], 'every allow-list entry still matches a statement');
  const allowed = findings.filter((finding) => !unexpected.includes(finding));
  t.same(allowed.filter((finding) => finding.storageCall).map(describeFinding), [], 'the allow-list excuses no storage call');
  t.ok(ALLOWED.every((entry) => entry.reason.length > 20), 'every allow-list entry says why');
});
