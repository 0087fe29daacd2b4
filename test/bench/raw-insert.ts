import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

export interface RawInsertOptions {
  /** The real database: its DDL for `table` (table and indexes, no triggers) is copied to a scratch file. */
  databasePath: string;
  table: string;
  /** Row `n` of the run, keyed by column name. */
  row: (n: number) => Record<string, unknown>;
  batch: number;
  seconds: number;
  synchronous: 'NORMAL' | 'FULL';
}

/**
 * What better-sqlite3 alone achieves inserting `batch`-row transactions into a copy of one of
 * our tables: the yardstick the ingestion and upload ratios of `npm run bench` divide by.
 */
export function rawInsertRate(options: RawInsertOptions): number {
  const source = new Database(options.databasePath, { readonly: true, fileMustExist: true });
  const ddl = source
    .prepare<[string], { sql: string }>(`SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type = 'index'`)
    .all(options.table);
  source.close();
  const dir = mkdtempSync(path.join(tmpdir(), 'panguard-raw-'));
  try {
    const db = new Database(path.join(dir, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous}`);
    for (const { sql } of ddl) db.exec(sql);
    const columns = Object.keys(options.row(0));
    const insert = db.prepare(`INSERT INTO ${options.table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
    const transaction = db.transaction((rows: Record<string, unknown>[]) => {
      for (const row of rows) insert.run(row);
    });
    let inserted = 0;
    const started = process.hrtime.bigint();
    const deadline = started + BigInt(options.seconds * 1e9);
    while (process.hrtime.bigint() < deadline) {
      transaction(Array.from({ length: options.batch }, (_, i) => options.row(inserted + i + 1)));
      inserted += options.batch;
    }
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    db.close();
    return inserted / elapsed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
