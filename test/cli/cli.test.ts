import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { runCli } from '../../src/cli/index.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { ensureSecrets } from '../../src/shared/secrets.js';
import { countRows, tempDir, type Teardown } from '../helper.js';
import { prepareUserSeeder } from '../seed.js';

function cli(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const run = (...argv: string[]) =>
    runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: { LOG_LEVEL: 'silent', ...env }, readStdin: async () => '' });
  return { run, out, err };
}

function dataDir(t: Teardown): string {
  return tempDir(t);
}

t.test('--help lists every command; unknown commands exit 2', async (t) => {
  const { run, out, err } = cli({});
  t.equal(await run('--help'), 0);
  for (const name of ['token', 'backup', 'migrate']) t.match(out.join('\n'), new RegExp(`\\n  ${name} `));
  t.equal(await run(), 2, 'no command is a usage error');
  t.equal(await run('frobnicate'), 2);
  t.match(err.join('\n'), 'unknown command "frobnicate"');
});

t.test('migrate creates and then reports an up-to-date database', async (t) => {
  const dir = dataDir(t);
  const { run, out } = cli({ DATA_DIR: dir });
  t.equal(await run('migrate'), 0);
  t.match(out[0], `is at version ${MIGRATIONS.at(-1)!.version}`);
  t.equal(await run('migrate'), 0);
  t.match(out[1], 'is up to date');
  t.equal(statSync(path.join(dir, 'panguard.db')).mode & 0o777, 0o600);
  t.equal(await run('migrate', 'extra'), 2);
});

t.test('backup copies a consistent snapshot while another connection writes', async (t) => {
  const dir = dataDir(t);
  const { run, out, err } = cli({ DATA_DIR: dir });
  t.equal(await run('backup', path.join(dir, 'none.db')), 1, 'no database yet');
  t.match(err[0], 'no database at');
  await run('migrate');
  const writer = new Database(path.join(dir, 'panguard.db'));
  writer.pragma('journal_mode = WAL');
  t.teardown(() => writer.close());
  const seed = prepareUserSeeder(writer);
  let written = 0;
  const writing = setInterval(() => {
    for (let i = 0; i < 50; i++, written++) seed({ id: `usr_${written}` });
  }, 1);
  const target = path.join(dir, 'backup.db');
  const code = await run('backup', target);
  clearInterval(writing);
  t.equal(code, 0, err.join('\n'));
  t.match(out.at(-1), 'integrity ok');
  t.equal(statSync(target).mode & 0o777, 0o600);
  const copy = new Database(target, { readonly: true });
  t.teardown(() => copy.close());
  t.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  const copied = countRows(copy, 'users');
  t.ok(copied <= written, `the snapshot holds ${copied} of ${written} rows written so far`);
  t.equal(await run('backup', target), 1, 'never overwrites an existing file');
  t.equal(await run('backup'), 2);
});

t.test('token show prints generated or configured tokens', async (t) => {
  const dir = dataDir(t);
  const { run, out, err } = cli({ DATA_DIR: dir });
  t.equal(await run('token', 'show'), 1, 'nothing generated yet');
  t.match(err[0], 'start the server once');
  const { secrets } = ensureSecrets(dir, {});
  t.equal(await run('token', 'show'), 0);
  t.equal(out.at(-1), secrets.managerAuthToken);
  t.equal(await run('token', 'show', 'tc-admin'), 0);
  t.equal(out.at(-1), secrets.tcAdminToken);
  const configured = 'configured-manager-token-0123456789abcdef';
  const withEnv = cli({ DATA_DIR: dir, MANAGER_AUTH_TOKEN: configured });
  t.equal(await withEnv.run('token', 'show', 'manager'), 0);
  t.equal(withEnv.out.at(-1), configured);
  t.equal(await run('token', 'show', 'jwt'), 2, 'only the two operator tokens can be shown');
  t.equal(await run('token', 'reveal'), 2);
});

t.test('a bad configuration is reported, not thrown', async (t) => {
  const dir = dataDir(t);
  const file = path.join(dir, 'bad.json');
  writeFileSync(file, '{"auth": {"port": "x"}}');
  const { run, err } = cli({ PANGUARD_CONFIG: file });
  t.equal(await run('migrate'), 1);
  t.match(err[0], 'AUTH_PORT must be an integer 1-65535');
  t.notOk(existsSync(path.join(dir, 'panguard.db')));
});
