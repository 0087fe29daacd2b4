import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { endAllTurnSnapshots } from './turn-snapshot.js';

export type Db = Database.Database;

export interface OpenOptions {
  synchronous?: 'NORMAL' | 'FULL';
  /** Milliseconds a writer waits for another connection's lock (the CLI backup, say). */
  busyTimeoutMs?: number;
  /**
   * How much of the file SQLite reads through a memory map instead of `read` calls into its
   * own page cache (0: none, SQLite's default). See SQLITE_MMAP_MB in the README.
   */
  mmapMiB?: number;
}

/** The most SQLite maps (its compile-time SQLITE_MAX_MMAP_SIZE, 0x7fff0000 bytes). */
export const MAX_MMAP_MIB = 2047;

/**
 * Opens the shared SQLite file the way every part of the process relies on: WAL, foreign
 * keys enforced, a busy timeout, temporary structures in memory, and file mode 0600 because
 * it holds password hashes.
 * `:memory:` is accepted for tests that need no file.
 */
export function openDatabase(file: string, { synchronous = 'NORMAL', busyTimeoutMs = 5000, mmapMiB = 0 }: OpenOptions = {}): Db {
  if (file !== ':memory:') {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  db.pragma(`synchronous = ${synchronous}`);
  // Statement journals (what lets one statement and its triggers roll back alone) spill to a
  // temporary file beyond 64 KiB; an IoC report touches enough index pages through its
  // triggers to cross that, and the file writes made each report about four times slower.
  // Migrations, whose index builds sort millions of rows, switch back to files (migrate.ts).
  db.pragma('temp_store = MEMORY');
  if (mmapMiB > 0) db.pragma(`mmap_size = ${Math.min(Math.trunc(mmapMiB), MAX_MMAP_MIB) * 1024 * 1024}`);
  return db;
}

/** Copies the WAL back into the main file and closes; the last step of a clean shutdown. */
export function closeDatabase(db: Db): void {
  if (!db.open) return;
  // This connection's read snapshot ends with it, and so does every other: a connection closing in
  // this process (an operator command run in process, a tool's own connection) is done writing.
  endAllTurnSnapshots();
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}
