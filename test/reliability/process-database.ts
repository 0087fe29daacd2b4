/**
 * The database a reliability run's real process writes to — the SQLite file in its data folder,
 * or a fresh database on a throw-away PostgreSQL cluster — and a way to read what it stored
 * once it is gone. The same assertions then hold on both engines.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Test } from 'tap';
import { createSqliteStorage } from '../../src/shared/db/sqlite-storage.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { ENGINES, selectRows, type Engine } from '../engines.js';
import { startPostgres } from '../postgres.js';

export { ENGINES, type Engine };

export interface ProcessDatabase {
  engine: Engine;
  /** What the process's environment needs to run on this database. */
  env: Record<string, string>;
  /** The stored rows, read through the port after the process stopped; closed at teardown. */
  open(): Promise<Storage>;
  /** SQLite's own check of its file; null on PostgreSQL, which keeps its files itself. */
  integrity: (() => string) | null;
}

export async function processDatabase(t: Test, engine: Engine, dataDir: string): Promise<ProcessDatabase> {
  if (engine === 'sqlite') {
    const file = path.join(dataDir, 'panguard.db');
    return {
      engine,
      env: {},
      async open() {
        const db = new Database(file, { readonly: true });
        t.teardown(() => db.close());
        return createSqliteStorage(db);
      },
      integrity() {
        const db = new Database(file, { readonly: true });
        try {
          return String(db.pragma('integrity_check', { simple: true }));
        } finally {
          db.close();
        }
      },
    };
  }
  const cluster = await startPostgres(t);
  const url = await cluster.freshDatabase();
  return {
    engine,
    // The test cluster listens on loopback only, without a certificate.
    env: { DATABASE_URL: url, DATABASE_TLS: 'disable' },
    async open() {
      const storage = await openPostgresStorage({ connectionString: url, poolSize: 4, statementTimeoutMs: 30_000, ssl: false });
      t.teardown(() => storage.close());
      return storage;
    },
    integrity: null,
  };
}

/** The values a one-parameter existence query does not find: what was acknowledged but lost. */
export async function missingAmong(storage: Storage, sql: string, values: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const value of values) {
    if ((await selectRows(storage, sql, [value])).length === 0) missing.push(value);
  }
  return missing;
}

/** Every table of the schema (PostgreSQL: the public schema), for row-count comparisons. */
export async function tablesOf(storage: Storage): Promise<string[]> {
  const sql =
    storage.engine === 'sqlite'
      ? `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
      : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`;
  return (await selectRows<{ name: string }>(storage, sql)).map((row) => row.name);
}
