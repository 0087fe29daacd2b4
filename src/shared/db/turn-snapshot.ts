import type BetterSqlite3 from 'better-sqlite3';

type Connection = BetterSqlite3.Database;

/**
 * One read transaction per connection and event-loop turn, shared by the reads outside a
 * transaction in that turn.
 *
 * Why: outside a transaction every SQLite statement takes and drops the WAL read lock on its
 * own (two `fcntl` calls and a `stat`, about 6 µs on the development machine, as much as an
 * IoC lookup's own work). Under load a turn answers many requests; they now pay the lock once.
 *
 * What a read sees:
 * - everything committed in this process before it: any commit through any storage of the
 *   process ends every open snapshot (`endAllTurnSnapshots`), and a connection's own writes end
 *   its snapshot before they begin, so a write is never buffered into a read transaction;
 * - everything another process committed before the snapshot's first read. A commit by another
 *   process (the CLI) while a snapshot is open is seen once it ends: not by the requests read
 *   meanwhile, that is, sent while the commit was under way. A connection of this process that
 *   writes outside the port is such another process too, until it closes: closing any
 *   connection ends every snapshot.
 *
 * The snapshot ends at the next check phase (`setImmediate`). One begun during a turn's I/O ends
 * in that turn; one begun by reads at a check phase (the gathered lookups of turn-batch.ts) ends
 * at the next turn's, so it spans at most that turn's I/O and never holds a checkpoint back for
 * longer.
 */
const open = new Set<Connection>();

/** Before a write or a transaction on the connection. */
export function endTurnSnapshot(db: Connection): void {
  if (!open.delete(db)) return;
  // Writes through the port end the snapshot before they begin, so what is open here is this
  // module's read transaction, plus at most a raw statement run on the connection meanwhile (the
  // Manager's TEMP triggers at start-up): committed with it, never rolled back.
  if (db.open && db.inTransaction) db.exec('COMMIT');
}

/** Before a read outside a transaction: joins this turn's snapshot of the connection, or begins it. */
export function joinTurnSnapshot(db: Connection): void {
  if (open.has(db) || db.inTransaction) return;
  db.exec('BEGIN');
  open.add(db);
  setImmediate(endTurnSnapshot, db);
}

/** After a commit anywhere in the process: later reads on every connection see it. */
export function endAllTurnSnapshots(): void {
  for (const db of open) endTurnSnapshot(db);
}
