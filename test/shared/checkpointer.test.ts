import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startCheckpointer, type CheckpointReport } from '../../src/shared/db/checkpointer.js';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { tempDir } from '../helper.js';

/** About `pages` 4 KiB pages of new rows, in transactions of 100 rows. */
function writePages(db: Db, pages: number): void {
  const insert = db.prepare(`INSERT INTO filler (body) VALUES (?)`);
  const batch = db.transaction((count: number) => {
    for (let i = 0; i < count; i++) insert.run('x'.repeat(3500));
  });
  for (let written = 0; written < pages; written += 100) batch(100);
}

function nextReport(listen: (listener: (report: CheckpointReport) => void) => void, accept: (report: CheckpointReport) => boolean) {
  return new Promise<CheckpointReport>((resolve) => listen((report) => accept(report) && resolve(report)));
}

t.test('commits never checkpoint on the serving connection; the worker copies the WAL back and it restarts', async (t) => {
  const file = path.join(tempDir(t), 'wal.db');
  const db = openDatabase(file);
  db.exec(`CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`);
  const checkpointer = startCheckpointer(db, { intervalMs: 50 });
  t.teardown(async () => {
    await checkpointer.stop();
    closeDatabase(db);
  });
  const reports: CheckpointReport[] = [];
  checkpointer.onReport((report) => reports.push(report));
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'SQLite would otherwise checkpoint inside the commit that crosses 1,000 pages');

  writePages(db, 2500);
  const walAfterBurst = statSync(`${file}-wal`).size;
  t.ok(walAfterBurst > 1000 * 4096, `the burst stayed in the WAL (${walAfterBurst} bytes): no commit checkpointed it`);

  const caughtUp = await nextReport(checkpointer.onReport.bind(checkpointer), (r) => r.ok && (r.log ?? 0) >= 2500 && r.checkpointed === r.log);
  t.equal(caughtUp.busy, 0);
  const fresh = openDatabase(file);
  t.equal(fresh.prepare(`SELECT count(*) FROM filler`).pluck().get(), 2500, 'every committed row is readable');
  fresh.close();

  // With everything copied back the next writer starts the WAL from its beginning instead of growing it.
  writePages(db, 100);
  const restarted = await nextReport(checkpointer.onReport.bind(checkpointer), (r) => r.ok && r.log !== caughtUp.log);
  t.ok(restarted.log! < 1000, `the WAL restarted (${restarted.log} frames after the next write)`);
  t.equal(statSync(`${file}-wal`).size, walAfterBurst, 'and the file did not grow');
  t.ok(reports.every((r) => r.ok), 'no checkpoint failed');
});

t.test('stopping hands checkpoints back to SQLite', async (t) => {
  const db = openDatabase(path.join(tempDir(t), 'stop.db'));
  t.teardown(() => closeDatabase(db));
  const checkpointer = startCheckpointer(db, { intervalMs: 50 });
  await checkpointer.stop();
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
  await checkpointer.stop();
  t.pass('a second stop is harmless');
});

t.test('a worker that cannot run falls back to checkpoints on commits and says so', async (t) => {
  const file = path.join(tempDir(t), 'gone.db');
  const db = openDatabase(file);
  t.teardown(() => db.close());
  // The worker opens the file by name; a file removed underneath leaves it nothing to open.
  rmSync(file);
  const failed = new Promise<Error>((resolve) => startCheckpointer(db, { intervalMs: 50, onFailure: resolve }));
  const error = await failed;
  t.match(error.message, /SQLITE_CANTOPEN/, `the failure is reported (${error.message})`);
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'the WAL cannot grow without bound');
});
