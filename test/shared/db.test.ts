import { statSync, existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { migrate, MigrationError, type Migration } from '../../src/shared/db/migrate.js';
import Database from 'better-sqlite3';
import { closeDatabase, MAX_MMAP_MIB, openDatabase } from '../../src/shared/db/open.js';
import { openConfiguredStorage } from '../../src/shared/db/open-storage.js';
import { loadConfig } from '../../src/config.js';
import { databaseReadable } from '../../src/shared/db/read-probe.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { countRows, tempDir } from '../helper.js';
import { seedUser } from '../seed.js';

const tables = (db: ReturnType<typeof openDatabase>) =>
  (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name);

t.test('opening creates the file 0600 with WAL, foreign keys and a busy timeout', async (t) => {
  const file = path.join(tempDir(t), 'nested', 'panguard.db');
  const db = openDatabase(file, { synchronous: 'FULL' });
  t.teardown(() => closeDatabase(db));
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('foreign_keys', { simple: true }), 1);
  t.equal(db.pragma('busy_timeout', { simple: true }), 5000);
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL');
  t.equal(db.pragma('temp_store', { simple: true }), 2, 'statement journals stay in memory: a spill to a file made every IoC report ~4x slower');
  let tempStoreDuringMigration: unknown;
  migrate(db, [...MIGRATIONS, { version: 1000, name: 'probe', up: (d) => void (tempStoreDuringMigration = d.pragma('temp_store', { simple: true })) }]);
  t.equal(tempStoreDuringMigration, 1, 'migrations sort on disk, so an index build over millions of rows keeps memory bounded');
  t.equal(db.pragma('temp_store', { simple: true }), 2, 'and the serving connection is back in memory afterwards');
  seedUser(db, { id: 'usr_1' });
  t.ok(existsSync(`${file}-wal`), 'WAL file exists');
  t.equal(statSync(`${file}-wal`).mode & 0o777, 0o600, 'the WAL is as private as the database');
  t.ok(await databaseReadable(sqliteStorageOf(db)));
});

t.test('SQLITE_MMAP_MB: reads through a memory map that stays coherent with other connections', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'panguard.db');
  t.equal(openAndClose(file, {}), 0, 'no map unless asked: a direct open (tools, the CLI file commands) reads as SQLite does by default');
  t.equal(openAndClose(file, { mmapMiB: 64 }), 64 * 1024 * 1024);
  t.equal(openAndClose(file, { mmapMiB: 5000 }), MAX_MMAP_MIB * 1024 * 1024, 'capped at what SQLite can map');

  const config = loadConfig({ env: { DATA_DIR: dir } });
  const opened = await openConfiguredStorage({ ...config, databasePath: file });
  t.teardown(() => opened.storage.close());
  const served = opened.sqlite!;
  t.equal(served.pragma('mmap_size', { simple: true }), 1024 * 1024 * 1024, 'the served connection maps the default 1 GiB');
  t.equal(served.pragma('temp_store', { simple: true }), 2, 'with the other settings of openDatabase');

  // Another process's connection (the operator CLI) writes a page the mapped connection has
  // read, grows the file past what it had mapped, and checkpoints it all into the main file.
  served.exec(`CREATE TABLE probe (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`);
  served.prepare(`INSERT INTO probe (id, body) VALUES (1, 'before')`).run();
  const read = () => served.prepare(`SELECT body, (SELECT count(*) FROM probe) AS n FROM probe WHERE id = 1`).get() as { body: string; n: number };
  t.same(read(), { body: 'before', n: 1 });
  const other = new Database(file);
  t.teardown(() => other.close());
  other.prepare(`UPDATE probe SET body = 'after' WHERE id = 1`).run();
  const insert = other.prepare(`INSERT INTO probe (body) VALUES (?)`);
  other.transaction(() => {
    for (let i = 0; i < 5000; i++) insert.run('x'.repeat(500));
  })();
  other.pragma('wal_checkpoint(TRUNCATE)');
  t.same(read(), { body: 'after', n: 5001 }, 'the mapped reader sees the other connection\'s commit, checkpointed into the file');
  t.equal(served.pragma('integrity_check', { simple: true }), 'ok');
});

function openAndClose(file: string, options: { mmapMiB?: number }): unknown {
  const db = openDatabase(file, options);
  try {
    return db.pragma('mmap_size', { simple: true });
  } finally {
    closeDatabase(db);
  }
}

t.test('migrations apply once on a fresh file and are skipped when already applied', async (t) => {
  const file = path.join(tempDir(t), 'm.db');
  const db = openDatabase(file);
  t.same(migrate(db, MIGRATIONS), MIGRATIONS.map((m) => m.version));
  t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.at(-1)!.version);
  t.ok(tables(db).includes('users'));
  t.same(migrate(db, MIGRATIONS), [], 'nothing to do the second time');
  closeDatabase(db);
  const reopened = openDatabase(file);
  t.teardown(() => closeDatabase(reopened));
  t.same(migrate(reopened, MIGRATIONS), [], 'nothing to do after a restart');
});

t.test('a failing step leaves the file as the previous step left it', async (t) => {
  const db = openDatabase(path.join(tempDir(t), 'f.db'));
  t.teardown(() => closeDatabase(db));
  const steps: Migration[] = [
    { version: 1, name: 'one', up: (d) => d.exec('CREATE TABLE one (x INTEGER)') },
    {
      version: 2,
      name: 'two',
      up: (d) => {
        d.exec('CREATE TABLE two (x INTEGER)');
        d.exec('INSERT INTO one VALUES (1)');
        d.exec('THIS IS NOT SQL');
      },
    },
  ];
  t.throws(() => migrate(db, steps), new MigrationError('Migration 2 (two) failed: near "THIS": syntax error'));
  t.equal(db.pragma('user_version', { simple: true }), 1, 'version of the last good step');
  t.same(tables(db), ['one'], 'the failed step created nothing');
  t.equal(countRows(db, 'one'), 0, 'and changed no row');
});

t.test('a file from a newer build and a disordered list are refused', async (t) => {
  const db = openDatabase(path.join(tempDir(t), 'n.db'));
  t.teardown(() => closeDatabase(db));
  db.pragma('user_version = 99');
  t.throws(() => migrate(db, MIGRATIONS), /schema version 99 is newer than this build knows/);
  const disordered: Migration[] = [
    { version: 2, name: 'b', up: () => {} },
    { version: 1, name: 'a', up: () => {} },
  ];
  t.throws(() => migrate(db, disordered), /out of order at "a"/);
});

t.test('core schema enforces key ownership and cascades on user deletion', async (t) => {
  const db = openDatabase(path.join(tempDir(t), 'c.db'));
  t.teardown(() => closeDatabase(db));
  migrate(db, MIGRATIONS);
  const insertKey = db.prepare(
    `INSERT INTO api_keys (id, name, key_hash, prefix, masked, origin, owner_user_id, tier, scopes, created_at) VALUES (?, 'k', ?, 'pgk_', 'pgk_…abcd', ?, ?, ?, 'read', 'now')`,
  );
  t.throws(() => insertKey.run('key_1', 'h1', 'user', null, null), /CHECK constraint/, 'a user key needs an owner');
  t.throws(() => insertKey.run('key_2', 'h2', 'operator', null, null), /CHECK constraint/, 'an operator key needs a tier');
  t.throws(() => insertKey.run('key_3', 'h3', 'user', 'usr_missing', null), /FOREIGN KEY/, 'owner must exist');
  seedUser(db, { id: 'usr_1' });
  insertKey.run('key_4', 'h4', 'user', 'usr_1', null);
  db.prepare(`INSERT INTO usage_counters (user_id, resource, period, count) VALUES ('usr_1', 'api_calls', '2026-03', 5)`).run();
  db.prepare(`DELETE FROM users WHERE id = 'usr_1'`).run();
  t.equal(countRows(db, 'api_keys'), 0);
  t.equal(countRows(db, 'usage_counters'), 0);
});

t.test('a closed database is reported unreadable', async (t) => {
  const db = openDatabase(path.join(tempDir(t), 'x.db'));
  const storage = sqliteStorageOf(db);
  t.ok(await databaseReadable(storage));
  closeDatabase(db);
  t.notOk(await databaseReadable(storage));
  t.doesNotThrow(() => closeDatabase(db), 'closing twice is harmless');
});
