import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli/index.js';
import { POSTGRES_MIGRATIONS } from '../../src/migrations/postgres/index.js';
import { ensureClusterSecrets } from '../../src/shared/cluster-secrets.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { tempDir, type Teardown } from '../helper.js';
import { connectPostgres, startPostgres } from '../postgres.js';

/** The operator commands when DATABASE_URL names PostgreSQL. */
const cluster = await startPostgres(t);
const LATEST = POSTGRES_MIGRATIONS.at(-1)!.version;

function cli(t: Teardown, env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const dataDir = tempDir(t);
  const run = (...argv: string[]) =>
    runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: { LOG_LEVEL: 'silent', DATA_DIR: dataDir, ...env }, readStdin: async () => '' });
  return { run, out, err, dataDir };
}

t.test('migrate brings the PostgreSQL database to the latest version once, and then says it is up to date', async (t) => {
  const url = await cluster.freshDatabase();
  const { run, out, err } = cli(t, { DATABASE_URL: url, DATABASE_TLS: 'disable' });
  t.equal(await run('migrate'), 0, err.join('\n'));
  t.match(out.at(-1), new RegExp(`^applied migrations \\d+(, \\d+)*; postgres://postgres@127\\.0\\.0\\.1:\\d+/test_\\d+ is at version ${LATEST}$`));
  t.equal(await run('migrate'), 0, err.join('\n'));
  t.match(out.at(-1), `is up to date (version ${LATEST})`);
  const client = await connectPostgres(t, url);
  t.same((await client.query('SELECT max(version) AS v FROM schema_migrations')).rows, [{ v: LATEST }]);
});

t.test('migrate refuses a server without TLS under the secure default, and a linguistic collation', async (t) => {
  const url = await cluster.freshDatabase();
  const strict = cli(t, { DATABASE_URL: url });
  t.equal(await strict.run('migrate'), 1);
  t.match(strict.err.at(-1), /does not support SSL.*DATABASE_TLS is verify-full by default/);
  const client = await connectPostgres(t, url);
  t.same((await client.query(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'`)).rows, [{ n: 0 }], 'nothing created');

  const icu = cli(t, { DATABASE_URL: await cluster.freshDatabase({ icuLocale: 'en-US' }), DATABASE_TLS: 'disable' });
  t.equal(await icu.run('migrate'), 1);
  t.match(icu.err.at(-1), /uses the collation en-US \(ICU\); Panguard needs text ordered byte by byte/);
});

t.test('backup on PostgreSQL explains pg_dump instead of copying a SQLite file', async (t) => {
  const { run, err, dataDir } = cli(t, { DATABASE_URL: 'postgres://panguard:never-printed@db.internal:5432/panguard', DATABASE_TLS: 'disable' });
  t.equal(await run('backup', `${dataDir}/panguard.dump`), 1);
  t.match(err.at(-1), /DATABASE_URL points at PostgreSQL: back it up with pg_dump, for example pg_dump --format=custom/);
  t.notMatch(err.join('\n'), 'never-printed');
});

t.test('seed on PostgreSQL says how to load it instead of filling the SQLite file the service does not read', async (t) => {
  const { run, err, dataDir } = cli(t, { DATABASE_URL: 'postgres://panguard:never-printed@db.internal:5432/panguard', DATABASE_TLS: 'disable' });
  t.equal(await run('seed', '--iocs', '100'), 1);
  t.match(err.at(-1), /DATABASE_URL points at PostgreSQL: panguard seed bulk-loads the SQLite file only.*panguard migrate-data --from/);
  t.notMatch(err.join('\n'), 'never-printed');
  t.notOk(existsSync(path.join(dataDir, 'panguard.db')), 'no SQLite file made');
});

t.test('token show on PostgreSQL prints the token the replicas generated into the database', async (t) => {
  const url = await cluster.freshDatabase();
  const env = { DATABASE_URL: url, DATABASE_TLS: 'disable' };
  const { run, out, err, dataDir } = cli(t, env);
  t.equal(await run('token', 'show'), 1, 'nothing generated yet');
  t.match(err.at(-1), /none generated in the database yet; start the server once/);
  const storage = await openPostgresStorage({ connectionString: url, poolSize: 2, statementTimeoutMs: 30_000, ssl: false });
  t.teardown(() => storage.close());
  const { secrets } = await ensureClusterSecrets(storage, dataDir, {}, { info: () => {}, warn: () => {} });
  t.equal(await run('token', 'show'), 0, err.join('\n'));
  t.equal(out.at(-1), secrets.managerAuthToken);
  t.equal(await run('token', 'show', 'tc-admin'), 0);
  t.equal(out.at(-1), secrets.tcAdminToken);
  t.notOk(existsSync(path.join(dataDir, 'secrets.json')), 'no file was read or made');
});
