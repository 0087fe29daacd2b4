import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CommandError, UsageError } from './context.js';

const ALL_PAGES = 0x7fffffff;

/**
 * SQLite's online backup API, all pages in one step: one step reads one snapshot, so the copy
 * is consistent, and it finishes while the server keeps writing; with the default of 100 pages
 * a step, every write by another connection between steps restarts the copy, and under steady
 * writes it might never end. (The first step only sets the backup up and copies nothing.)
 */
export function onlineBackup(db: Database.Database, destination: string) {
  return db.backup(destination, { progress: () => ALL_PAGES });
}

/** A consistent copy of a live SQLite file, opened read-only, that `remove()` deletes with its folder. */
export interface SqliteSnapshot {
  readonly db: Database.Database;
  remove(): void;
}

/**
 * Opens an existing SQLite file read-only: a read-only connection never checkpoints or
 * truncates the live server's write-ahead log, so the operator's file is left as it was.
 */
export function openLiveSqlite(file: string): Database.Database {
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    // Reported below as missing.
  }
  if (!isFile) throw new UsageError(`--from: no SQLite file at ${file}`);
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    db.pragma('user_version', { simple: true });
  } catch (error) {
    throw new CommandError(`cannot read ${file} as a SQLite database: ${(error as Error).message}`);
  }
  return db;
}

/**
 * Copies `live` with the online backup API into a private (0700) folder under `tempRoot`
 * and opens the copy read-only. The live server may keep writing meanwhile; the copy is one
 * consistent point in time, and the data is copied from it, never from the live file.
 */
export async function takeSnapshot(live: Database.Database, tempRoot: string): Promise<SqliteSnapshot> {
  const folder = mkdtempSync(path.join(tempRoot, 'panguard-migrate-data-'));
  const remove = () => rmSync(folder, { recursive: true, force: true });
  const file = path.join(folder, 'snapshot.db');
  try {
    await onlineBackup(live, file);
    const db = new Database(file, { readonly: true, fileMustExist: true });
    return {
      db,
      remove() {
        if (db.open) db.close();
        remove();
      },
    };
  } catch (error) {
    remove();
    throw new CommandError(`the online backup of the SQLite file failed: ${(error as Error).message}`);
  }
}
