import path from 'node:path';
import t from 'tap';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { createSqliteStorage } from '../../src/shared/db/sqlite-storage.js';
import { defineStatement, type Storage } from '../../src/shared/db/storage.js';
import { tempDir, type Teardown } from '../helper.js';

/**
 * Reads outside a transaction share one read transaction per connection and event-loop turn
 * (src/shared/db/turn-snapshot.ts). What users rely on: nothing committed in this process is
 * ever missed by a later read, writes are never held in a read transaction, and a commit by
 * another process is seen from the next turn on.
 */

const valueOf = defineStatement<[name: string], { value: number }>('SELECT value FROM settings WHERE name = ?');
const setValue = defineStatement<[value: number, name: string]>('UPDATE settings SET value = ? WHERE name = ?');
const bumpReturning = defineStatement<[name: string], { value: number }>('UPDATE settings SET value = value + 1 WHERE name = ? RETURNING value');

interface Connected {
  db: Db;
  storage: Storage;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A file with one setting, and `count` connections to it, each with its own storage; closed after the test. */
function files(t: Teardown, count: number): [Connected, ...Connected[]] {
  const file = path.join(tempDir(t), 'snapshot.db');
  const first = openDatabase(file);
  first.exec(`CREATE TABLE settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO settings VALUES ('limit', 1);`);
  const connections = [first, ...Array.from({ length: count - 1 }, () => openDatabase(file))];
  t.teardown(() => connections.forEach((db) => closeDatabase(db)));
  const [head, ...rest] = connections.map((db) => ({ db, storage: createSqliteStorage(db) }));
  return [head!, ...rest];
}

/**
 * Another process's connection: one the storage port does not know about, which stays open
 * (closing a connection of this process ends every snapshot). Closed after the test.
 */
function foreignConnection(t: Teardown, file: string): Db {
  const other = openDatabase(file);
  t.teardown(() => closeDatabase(other));
  return other;
}

const foreignWrite = (other: Db, value: number) => other.prepare(`UPDATE settings SET value = ? WHERE name = 'limit'`).run(value);

t.test('reads in one turn share a snapshot that ends with the turn', async (t) => {
  const [{ db, storage }] = files(t, 1);
  const other = foreignConnection(t, db.name);
  t.equal((await storage.get(valueOf, ['limit']))!.value, 1);
  t.ok(db.inTransaction, 'the read left the turn snapshot open');
  // Another process commits in the middle of the turn: this turn's reads keep their snapshot…
  foreignWrite(other, 2);
  t.equal((await storage.get(valueOf, ['limit']))!.value, 1, 'the same turn reads the same snapshot');
  await nextTurn();
  t.notOk(db.inTransaction, 'the snapshot ended at the turn’s check phase');
  // …and the next turn sees the commit.
  t.equal((await storage.get(valueOf, ['limit']))!.value, 2, 'the next turn sees the other process’s commit');
});

t.test('a snapshot begun at a check phase (gathered lookups) ends at the next one', async (t) => {
  const [{ db, storage }] = files(t, 1);
  const other = foreignConnection(t, db.name);
  // Reads gathered per turn run in a setImmediate callback (src/shared/turn-batch.ts).
  const atCheckPhase = await new Promise<number>((resolve, reject) =>
    setImmediate(() => void storage.get(valueOf, ['limit']).then((row) => resolve(row!.value), reject)),
  );
  t.equal(atCheckPhase, 1);
  t.ok(db.inTransaction, 'the check phase left its snapshot open for the turn that follows');
  foreignWrite(other, 3);
  t.equal((await storage.get(valueOf, ['limit']))!.value, 1, 'reads before the next check phase share it');
  await nextTurn();
  t.notOk(db.inTransaction, 'the next check phase ended it');
  t.equal((await storage.get(valueOf, ['limit']))!.value, 3, 'and the next read sees the other process’s commit');
});

t.test('a commit through any storage of the process is seen by the next read on every connection', async (t) => {
  const [reader, writer] = files(t, 2);
  t.equal((await reader!.storage.get(valueOf, ['limit']))!.value, 1);
  await writer!.storage.run(setValue, [5, 'limit']);
  t.equal((await reader!.storage.get(valueOf, ['limit']))!.value, 5, 'a write on its own');
  await writer!.storage.transaction({ durable: false }, async (tx) => {
    await tx.run(setValue, [6, 'limit']);
  });
  t.equal((await reader!.storage.get(valueOf, ['limit']))!.value, 6, 'a transaction');
  await writer!.storage.get(bumpReturning, ['limit']);
  t.equal((await reader!.storage.get(valueOf, ['limit']))!.value, 7, 'a write that returns rows');
});

t.test('a connection of this process closing (an operator command run in process) ends every snapshot', async (t) => {
  const [{ db, storage }] = files(t, 1);
  await storage.get(valueOf, ['limit']);
  const command = openDatabase(db.name);
  foreignWrite(command, 4);
  closeDatabase(command);
  t.equal((await storage.get(valueOf, ['limit']))!.value, 4, 'seen in the same turn');
});

t.test('a write after a read in the same turn commits at once, never inside the read snapshot', async (t) => {
  const [{ db, storage }, observer] = files(t, 2);
  await storage.get(valueOf, ['limit']);
  t.ok(db.inTransaction);
  await storage.run(setValue, [3, 'limit']);
  t.notOk(db.inTransaction, 'no transaction is left open by the write');
  // Read on a raw connection, outside every storage: what is in the file now.
  t.equal((observer!.db.prepare(`SELECT value FROM settings WHERE name = 'limit'`).get() as { value: number }).value, 3);

  await storage.get(valueOf, ['limit']);
  t.same(await storage.get(bumpReturning, ['limit']), { value: 4 });
  t.notOk(db.inTransaction, 'UPDATE … RETURNING read through get commits on its own');
  t.equal((observer!.db.prepare(`SELECT value FROM settings WHERE name = 'limit'`).get() as { value: number }).value, 4);

  await storage.get(valueOf, ['limit']);
  await storage.transaction({ durable: true }, async (tx) => {
    await tx.run(setValue, [9, 'limit']);
  });
  t.notOk(db.inTransaction, 'a transaction begun after a read in the same turn commits');
  t.equal((observer!.db.prepare(`SELECT value FROM settings WHERE name = 'limit'`).get() as { value: number }).value, 9);
});

t.test('a rolled-back transaction leaves the next read its own snapshot of what is committed', async (t) => {
  const [{ db, storage }] = files(t, 1);
  await storage.get(valueOf, ['limit']);
  await t.rejects(
    storage.transaction({ durable: false }, async (tx) => {
      await tx.run(setValue, [8, 'limit']);
      throw new Error('refused');
    }),
    /refused/,
  );
  t.equal((await storage.get(valueOf, ['limit']))!.value, 1);
  t.ok(db.inTransaction, 'a read snapshot again, not the rolled-back write');
  await nextTurn();
  t.notOk(db.inTransaction);
});

t.test('closing the connection in the middle of a turn ends the snapshot first and checkpoints', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'closing.db');
  const db = openDatabase(file);
  db.exec(`CREATE TABLE settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO settings VALUES ('limit', 1);`);
  const storage = createSqliteStorage(db);
  await storage.get(valueOf, ['limit']);
  await storage.close();
  t.notOk(db.open);
  // TRUNCATE ran with no read transaction holding it back: the WAL is empty.
  const reopened = openDatabase(file);
  t.teardown(() => closeDatabase(reopened));
  t.equal((reopened.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0]!.log, 0);
});

t.test('a read on a connection closed behind the storage’s back rejects, never throws', async (t) => {
  const [{ db, storage }] = files(t, 1);
  // Prepared already, so only beginning the snapshot meets the closed connection.
  await storage.get(valueOf, ['limit']);
  await nextTurn();
  db.close();
  let promise: Promise<unknown> | undefined;
  t.doesNotThrow(() => {
    promise = storage.get(valueOf, ['limit']);
  });
  await t.rejects(promise!, /not open/);
});
