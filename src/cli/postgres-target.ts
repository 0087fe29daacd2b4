import pg from 'pg';
import { MIGRATIONS } from '../migrations/index.js';
import { POSTGRES_MIGRATIONS } from '../migrations/postgres/index.js';
import { migrate } from '../shared/db/migrate.js';
import { openDatabase } from '../shared/db/open.js';
import type { PostgresStorageOptions } from '../shared/db/postgres-storage.js';
import { explainedConnectionError } from '../shared/db/postgres-config.js';
import { refuseLinguisticCollation } from '../shared/db/postgres-storage.js';
import { withoutPassword } from '../config.js';
import { CommandError } from './context.js';

/**
 * A one-connection pool to the database a command works on, connected and checked as the
 * server will check it (text ordered byte by byte); each failure is a CommandError that names
 * the database without its password. The caller ends the pool.
 */
export async function openCheckedPool(target: { connectionString: string; ssl: PostgresStorageOptions['ssl'] }): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: target.connectionString, ssl: target.ssl, max: 1 });
  pool.on('error', () => {});
  try {
    try {
      (await pool.connect()).release();
    } catch (error) {
      throw new CommandError(`cannot connect to ${withoutPassword(target.connectionString)}: ${explainedConnectionError(error as Error)}`);
    }
    try {
      await refuseLinguisticCollation(pool);
    } catch (error) {
      throw new CommandError((error as Error).message);
    }
    return pool;
  } catch (error) {
    await pool.end();
    throw error;
  }
}

export interface TargetTable {
  name: string;
  /** Every column in table order, with the array type `unnest` reads it as. */
  columns: { name: string; type: string; identity: boolean }[];
}

/** Quoted as an identifier; our names are plain, but a name is never pasted into SQL unquoted. */
export const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The base tables of the target's schema, in table and column order; the migration ledger aside. */
export async function readTargetTables(client: pg.ClientBase): Promise<TargetTable[]> {
  const { rows } = await client.query<{ table_name: string; column_name: string; data_type: string; is_identity: string }>(
    `SELECT c.table_name, c.column_name, c.data_type, c.is_identity
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> 'schema_migrations'
      ORDER BY c.table_name, c.ordinal_position`,
  );
  const tables = new Map<string, TargetTable>();
  for (const row of rows) {
    let table = tables.get(row.table_name);
    if (!table) tables.set(row.table_name, (table = { name: row.table_name, columns: [] }));
    table.columns.push({ name: row.column_name, type: row.data_type, identity: row.is_identity === 'YES' });
  }
  return [...tables.values()];
}

/**
 * The tables with every parent before its children (foreign keys are checked row by row as
 * the copy inserts, and the baseline declares none of them deferrable).
 */
export async function parentsFirst(client: pg.ClientBase, tables: TargetTable[]): Promise<TargetTable[]> {
  const { rows } = await client.query<{ child: string; parent: string }>(
    `SELECT child.relname AS child, parent.relname AS parent
       FROM pg_constraint f
       JOIN pg_class child ON child.oid = f.conrelid
       JOIN pg_class parent ON parent.oid = f.confrelid
      WHERE f.contype = 'f' AND f.connamespace = current_schema()::regnamespace`,
  );
  const byName = new Map(tables.map((table) => [table.name, table]));
  const ordered: TargetTable[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new CommandError(`the foreign keys of ${[...path, name].join(' → ')} form a cycle`);
    state.set(name, 'visiting');
    for (const { parent } of rows.filter((r) => r.child === name && r.parent !== name)) visit(parent, [...path, name]);
    state.set(name, 'done');
    const table = byName.get(name);
    if (table) ordered.push(table);
  };
  for (const table of tables) visit(table.name, []);
  return ordered;
}

/**
 * Rows each table holds right after the baseline: the state and total rows the migrations
 * seed. Read from an in-memory SQLite file migrated to the same version, whose seeded rows
 * the schema parity test holds equal to PostgreSQL's, so the list is never written twice.
 */
export function seededRowCounts(version: number): Map<string, number> {
  const db = openDatabase(':memory:');
  try {
    migrate(db, MIGRATIONS.filter((m) => m.version <= version));
    const names = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck().all() as string[];
    return new Map(names.map((name) => [name, db.prepare(`SELECT count(*) FROM ${ident(name)}`).pluck().get() as number]));
  } finally {
    db.close();
  }
}

/** Row counts of the given tables in one round trip. */
export async function countTargetRows(client: pg.ClientBase, tables: readonly string[]): Promise<Map<string, number>> {
  if (tables.length === 0) return new Map();
  const sql = tables.map((name) => `SELECT ${pg.escapeLiteral(name)} AS name, count(*) AS n FROM ${ident(name)}`).join(' UNION ALL ');
  const { rows } = await client.query<{ name: string; n: string }>(sql);
  return new Map(rows.map((row) => [row.name, Number(row.n)]));
}

/**
 * Why the target may not receive a copy, or null when it may: it must be a new database (no
 * tables at all) or one that holds exactly this build's baseline with nothing but the seeded
 * rows (a server started once against it, say). Anything else may be someone's data.
 */
export async function whyNotEmpty(client: pg.ClientBase, version: number, seeded: Map<string, number>): Promise<string | null> {
  const { rows: relations } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      ORDER BY 1`,
  );
  if (relations.length === 0) return null;
  if (!relations.some((r) => r.name === 'schema_migrations')) {
    return `it holds tables that Panguard did not make (${summarise(relations.map((r) => r.name))})`;
  }
  const { rows: versions } = await client.query<{ version: number }>(`SELECT version FROM schema_migrations ORDER BY version`);
  const found = versions.map((r) => r.version);
  // This build's steps, or the first of them (a database an earlier build migrated and never used): the copy migrates the rest.
  const known = POSTGRES_MIGRATIONS.map((m) => m.version).filter((v) => v <= version);
  if (found.some((v, i) => v !== known[i])) {
    return `its schema_migrations records version${found.length > 1 ? 's' : ''} ${found.join(', ')}, not this build's steps (${known.join(', ')})`;
  }
  const tables = (await readTargetTables(client)).map((t) => t.name);
  const counts = await countTargetRows(client, tables);
  const extra = tables.filter((name) => (counts.get(name) ?? 0) > (seeded.get(name) ?? 0));
  if (extra.length === 0) return null;
  return `it holds rows: ${summarise(extra.map((name) => `${name} (${counts.get(name)})`))}`;
}

function summarise(items: string[], shown = 6): string {
  return items.length <= shown ? items.join(', ') : `${items.slice(0, shown).join(', ')} and ${items.length - shown} more`;
}
