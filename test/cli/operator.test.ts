import path from 'node:path';
import t from 'tap';
import { buildAuthApp } from '../../src/auth/app.js';
import { createOutboxStore } from '../../src/auth/stores/outbox.js';
import { createPasswordHasher } from '../../src/auth/services/password-hasher.js';
import { runCli } from '../../src/cli/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { sha256Hex } from '../../src/shared/tokens.js';
import { borrowed, countIn, onBothEngines, selectRows, type Engine } from '../engines.js';
import { buildTestApp, testConfig, testDb, type Teardown } from '../helper.js';
import { startPostgres, type PostgresCluster } from '../postgres.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';

const PASSWORD = 'Correct-Horse-Battery-9';

/** One cluster for the file, started by the first PostgreSQL test, stopped when the file ends. */
let cluster: Promise<PostgresCluster> | null = null;

/** An empty PostgreSQL database (not migrated: the CLI brings its schema up itself). */
async function emptyPostgresDatabase(): Promise<string> {
  cluster ??= startPostgres(t);
  return (await cluster).freshDatabase();
}

/**
 * The CLI with `stdin` piped in, on an engine: the data folder's SQLite file, or an empty PostgreSQL database named
 * by DATABASE_URL. `storage()` opens the same database for the test to read back (after a
 * command created it); `count` reads through it.
 */
async function operatorOn(t: Teardown, engine: Engine) {
  const config = testConfig(t);
  const dataDir = path.dirname(config.databasePath);
  // The test cluster listens on loopback only, without a certificate.
  const url = engine === 'postgres' ? await emptyPostgresDatabase() : undefined;
  const engineEnv = url ? { DATABASE_URL: url, DATABASE_TLS: 'disable' } : {};
  const out: string[] = [];
  const err: string[] = [];
  const run = (argv: string[], stdin = '') =>
    runCli(argv, {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      env: { LOG_LEVEL: 'silent', DATA_DIR: dataDir, AUTH_SCRYPT_LOG_N: '14', ...engineEnv },
      readStdin: async () => stdin,
    });
  let opened: Storage | undefined;
  const storage = async (): Promise<Storage> => {
    if (opened) return opened;
    if (url) {
      const pgStorage = await openPostgresStorage({ connectionString: url, poolSize: 2, statementTimeoutMs: 30_000, ssl: false });
      t.teardown(() => pgStorage.close());
      opened = pgStorage;
    } else {
      opened = sqliteStorageOf(testDb(t, config));
    }
    return opened;
  };
  const count = async (table: string): Promise<number> => countIn(await storage(), table);
  return { config, run, out, err, count, storage };
}

t.test('--help lists the operator commands', async (t) => {
  const { run, out } = await operatorOn(t, 'sqlite');
  t.equal(await run(['--help']), 0);
  for (const name of ['admin', 'keys', 'seed', 'outbox']) t.match(out.join('\n'), new RegExp(`\\n  ${name} `));
  for (const name of ['admin', 'keys', 'seed', 'outbox']) {
    t.equal(await run([name, '--help']), 0);
    t.match(out.at(-1), /usage: panguard /);
  }
});

onBothEngines('admin create makes an admin who can log in with the password piped on stdin', async (t, engine) => {
  const { config, run, out, err, count, storage } = await operatorOn(t, engine);
  t.equal(await run(['admin', 'create', '--email', '  Root@Example.COM ', '--name', ' Root '], `${PASSWORD}\n`), 0, err.join('\n'));
  t.match(out.at(-1), /^created admin usr_\S+ \(root@example\.com\)$/);
  t.notMatch(out.join('\n'), PASSWORD, 'the password is never echoed');

  const database = await storage();
  const [row] = await selectRows<Record<string, string>>(database, `SELECT id, email, name, role, tier, password_hash FROM users`);
  t.match(row, { email: 'root@example.com', name: 'Root', role: 'admin', tier: 'community' });
  t.match(row!.password_hash, /^scrypt\$ln=14,/, 'hashed at the configured AUTH_SCRYPT_LOG_N');
  t.ok(await createPasswordHasher(14).verify(PASSWORD, row!.password_hash!), 'the trailing newline is not part of the password');
  const audit = await selectRows<Record<string, string>>(database, `SELECT action, target_id, details FROM audit_log`);
  t.same(audit.map((a) => [a.action, a.target_id]), [['admin.create', row!.id]]);
  t.notMatch(audit[0]!.details, PASSWORD);

  const { app } = await buildTestApp(t, buildAuthApp, { config, clock: new ManualClock(), storage: borrowed(database) });
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'root@example.com', password: PASSWORD } });
  t.equal(login.statusCode, 200, login.body);
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${login.json().data.token as string}` } });
  t.equal(me.json().data.role, 'admin');

  t.equal(await run(['admin', 'create', '--email', 'ROOT@example.com', '--name', 'Again'], PASSWORD), 1, 'an existing e-mail is exit 1');
  t.match(err.at(-1), 'panguard admin: an account with the e-mail root@example.com exists already');
  t.equal(await count('users'), 1);
});

onBothEngines('admin create refuses bad input with exit 2 and stores nothing', async (t, engine) => {
  const { run, err, count } = await operatorOn(t, engine);
  const cases: Array<[string[], string, string | RegExp]> = [
    [['admin', 'create', '--email', 'a@example.com', '--name', 'A'], 'short', 'Password must be between 8 and 128 characters'],
    [['admin', 'create', '--email', 'a@example.com', '--name', 'A'], 'x'.repeat(129), 'Password must be between 8 and 128 characters'],
    [['admin', 'create', '--email', 'a@example.com', '--name', 'A'], '', 'no password on standard input; pipe it in'],
    [['admin', 'create', '--email', 'a@example.com', '--name', 'A'], '\n', 'no password on standard input'],
    [['admin', 'create', '--email', 'a@example.com', '--name', 'A'], 'password123', 'This password is too common; choose another'],
    [['admin', 'create', '--email', 'not-an-email', '--name', 'A'], PASSWORD, 'email must be a valid email address'],
    [['admin', 'create', '--email', 'a@example.com', '--name', '   '], PASSWORD, 'name must be between 1 and 100 characters'],
    [['admin', 'create', '--email', 'a@example.com', '--name', 'n'.repeat(101)], PASSWORD, 'name must be between 1 and 100 characters'],
    [['admin', 'create', '--email', 'a@example.com'], PASSWORD, '--email and --name are required'],
    [['admin', 'create', '--email', 'a@example.com', '--name', 'A', '--password', PASSWORD], '', /Unknown option '--password'/],
    [['admin', 'delete'], PASSWORD, 'unknown admin action "delete"'],
    [['admin'], PASSWORD, 'an action is required'],
  ];
  await run(['migrate']);
  for (const [argv, stdin, message] of cases) {
    t.equal(await run(argv, stdin), 2, argv.join(' '));
    t.match(err.at(-1), message);
    t.equal(err.at(-1)!.split('\n').length, 1, 'one line');
  }
  t.equal(await count('users'), 0);
  t.equal(await count('audit_log'), 0);
});

onBothEngines('keys create prints the key once, stores only its hash; list masks; revoke ends it', async (t, engine) => {
  const { run, out, err, count, storage } = await operatorOn(t, engine);
  t.equal(await run(['keys', 'create', '--name', 'feed sync', '--tier', 'enterprise', '--scopes', 'read']), 0, err.join('\n'));
  const [, id, key] = /created (\S+) \(enterprise; read\)\nkey \(shown once\): (\S+)$/.exec(out.at(-1)!) ?? [];
  t.ok(id && key, out.at(-1) ?? "");
  const database = await storage();
  const [stored] = await selectRows<Record<string, string>>(database, `SELECT key_hash, origin, tier, scopes FROM api_keys WHERE id = ?`, [id]);
  t.match(stored, { key_hash: sha256Hex(key!), origin: 'operator', tier: 'enterprise' });
  t.notMatch(JSON.stringify(await selectRows(database, `SELECT * FROM api_keys`)), key!, 'the plain key is not stored');

  t.equal(await run(['keys', 'list']), 0);
  t.match(out.at(-1), id!);
  t.notMatch(out.at(-1), key!, 'list shows the masked form only');

  const before = await count('api_keys');
  t.equal(await run(['keys', 'create', '--tier', 'platinum']), 2);
  t.match(err.at(-1), /^panguard keys: --tier must be one of .*; run "panguard keys --help"$/);
  t.equal(await run(['keys', 'create', '--scopes', 'read,root']), 2);
  t.equal(await run(['keys', 'rotate']), 2);
  t.match(err.join('\n'), 'unknown command: rotate');
  t.equal(await count('api_keys'), before, 'nothing stored by refused commands');

  out.length = 0;
  t.equal(await run(['keys', 'create']), 0);
  t.match(out.join('\n'), /\(pro; read,write\)/, 'defaults: tier pro, scopes read and write');
  t.equal(await run(['keys', 'revoke', id!]), 0);
  const trail = await selectRows<{ action: string; details: string; ip: string | null }>(
    database,
    `SELECT action, details, ip FROM tc_audit_log WHERE resource = ? ORDER BY created_at, rowid`,
    [`api-key:${id!}`],
  );
  t.same(trail.map((entry) => [entry.action, JSON.parse(entry.details).via, entry.ip]), [['create', 'cli', null], ['delete', 'cli', null]], 'audited like the API, marked as the CLI');
  t.equal(out.at(-1), `revoked ${id!}`);
  const [revoked] = await selectRows<{ revoked_at: string | null }>(database, `SELECT revoked_at FROM api_keys WHERE id = ?`, [id]);
  t.ok(revoked!.revoked_at);
  t.equal(await run(['keys', 'revoke', id!]), 1, 'a revoked key is not live any more');
  t.match(err.at(-1), `panguard keys: no live key with id ${id!}`);
  t.equal(await run(['keys', 'revoke']), 2);
});

// SQLite-only: `panguard seed` bulk-loads through better-sqlite3 (openMigratedDatabase + seedIocs), not the storage port.
t.test('seed --iocs loads that many IoCs; bad counts are usage errors', async (t) => {
  const { run, out, err, count } = await operatorOn(t, 'sqlite');
  t.equal(await run(['seed', '--iocs', '250']), 0, err.join('\n'));
  t.match(out.at(-1), /^seeded 250 IoCs in /);
  t.equal(await count('iocs'), 250);
  t.equal(await run(['seed', '--iocs', '10']), 0, 'a second run adds more');
  t.equal(await count('iocs'), 260);
  for (const bad of [[], ['--iocs'], ['--iocs', '0'], ['--iocs', '1.5'], ['--iocs', '-3'], ['--iocs', '50000001'], ['--count', '3']]) {
    t.equal(await run(['seed', ...bad]), 2, bad.join(' '));
  }
  t.match(err.at(-1), 'panguard seed:');
  t.equal(await count('iocs'), 260);
});

onBothEngines('outbox lists the newest mails with their bodies; a sent body is gone', async (t, engine) => {
  const { run, out, err, storage } = await operatorOn(t, engine);
  if (engine === 'sqlite') {
    // The SQLite file is never created by reading it; PostgreSQL's database exists already.
    t.equal(await run(['outbox']), 1, 'no database yet');
    t.match(err.at(-1), 'no database at');
    await storage();
  }
  t.equal(await run(['outbox']), 0);
  t.equal(out.at(-1), '(the outbox is empty)');

  const clock = new ManualClock();
  const outbox = createOutboxStore(await storage(), clock);
  await outbox.add({ userId: null, recipient: 'old@example.com', subject: 'Welcome', body: 'first mail', status: 'stored', ttlMs: 86_400_000 });
  clock.advance(60_000);
  const sent = await outbox.add({ userId: null, recipient: 'sent@example.com', subject: 'Delivered', body: 'gone', status: 'pending', ttlMs: 86_400_000 });
  await outbox.markSent(sent.id);
  clock.advance(60_000);
  const reset = await outbox.add({
    userId: null,
    recipient: 'user@example.com',
    subject: 'Reset your Panguard password',
    body: 'Open this link:\nhttps://panguard.example/reset?token=abc123',
    status: 'stored',
    ttlMs: 3_600_000,
  });

  out.length = 0;
  t.equal(await run(['outbox']), 0);
  const text = out.join('\n');
  t.match(text, `${reset.createdAt}  stored  user@example.com  Reset your Panguard password  (${reset.id})`);
  t.match(text, '    https://panguard.example/reset?token=abc123', 'the body is shown for the operator to pass on');
  t.match(text, /sent {2}sent@example\.com {2}Delivered[\s\S]*\(body removed after delivery\)/);
  t.ok(text.indexOf('user@example.com') < text.indexOf('old@example.com'), 'newest first');

  out.length = 0;
  t.equal(await run(['outbox', '--limit', '1']), 0);
  t.match(out.join('\n'), 'user@example.com');
  t.notMatch(out.join('\n'), 'old@example.com');
  for (const bad of [['--limit', '0'], ['--limit', 'ten'], ['--limit', '1001'], ['--limit'], ['extra']]) {
    t.equal(await run(['outbox', ...bad]), 2, bad.join(' '));
  }
});
