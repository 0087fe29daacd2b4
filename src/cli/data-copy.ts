import type Database from 'better-sqlite3';
import type pg from 'pg';
import { CommandError } from './context.js';
import { countTargetRows, ident, parentsFirst, readTargetTables, whyNotEmpty, type TargetTable } from './postgres-target.js';

/** Rows per INSERT: one round trip each, small enough that a batch's arrays stay a few megabytes. */
export const ROWS_PER_STATEMENT = 1000;

/** IoCs drawn at random whose reputations must come out identical, besides the extremes. */
const REPUTATION_SAMPLE = 100;

/** PostgreSQL's implicit-rowid stand-in: filled from SQLite's own rowid. */
const ROWID = 'rowid';

export interface CopySummary {
  /** Rows per table, parents first; equal on both sides once the copy returns. */
  tables: { name: string; rows: number }[];
  /** IoCs whose reputations were compared. */
  reputationsChecked: number;
}

/**
 * Copies every table of the snapshot into a target already at the baseline, in ONE
 * transaction: any failure (a constraint, a lost connection, a failed check) rolls back and
 * leaves the target exactly as the baseline left it.
 *
 * Counters: the baseline's triggers keep counters and roll-ups (fleet_counts, user_counts,
 * tc_list_totals, the threat windows…) as rows arrive. The source's counter tables are copied
 * as they are, since they are the state SQLite's identical triggers built, and also carry what
 * no trigger can rebuild (sliding threat windows, state sequence numbers). So the user triggers
 * are switched off for the copy with `ALTER TABLE … DISABLE TRIGGER USER` and on again before
 * COMMIT; the change is transactional, so a failure leaves them on. Unlike
 * `session_replication_role = replica` this needs only ownership of the tables (the role that
 * migrated them), not superuser, and it keeps the foreign-key checks, which are system
 * triggers. The baseline's seeded singleton rows are deleted first and come back with the
 * source's values.
 */
export async function copyIntoTarget(
  client: pg.ClientBase,
  source: Database.Database,
  { version, seeded }: { version: number; seeded: Map<string, number> },
): Promise<CopySummary> {
  const tables = await parentsFirst(client, await readTargetTables(client));
  checkSameTables(source, tables);
  let summary: CopySummary;
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL statement_timeout = 0');
    // Taken first: the locks of ALTER TABLE keep out any writer from here to COMMIT, so the
    // emptiness checked below cannot change before the seeded rows are replaced.
    for (const table of tables) await client.query(`ALTER TABLE ${ident(table.name)} DISABLE TRIGGER USER`);
    const refused = await whyNotEmpty(client, version, seeded);
    if (refused) throw new CommandError(`the target database is not empty: ${refused}`);
    for (const table of [...tables].reverse()) {
      if ((seeded.get(table.name) ?? 0) > 0) await client.query(`DELETE FROM ${ident(table.name)}`);
    }
    for (const table of tables) await copyTable(client, source, table);
    for (const table of tables) await client.query(`ALTER TABLE ${ident(table.name)} ENABLE TRIGGER USER`);

    summary = await verify(client, source, tables);
    // Last, as setval is not undone by a rollback: only COMMIT can fail after it.
    for (const table of tables) await resetIdentities(client, table);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  await vacuumAndAnalyse(client, tables);
  return summary;
}

/**
 * Bulk-filled tables have no planner statistics and no visibility map until autovacuum gets
 * to them: the planner guesses, and an index-only scan reads the table for every row (the
 * IoC list's walks took over a second at 300,000 IoCs). Done now, after the commit (VACUUM
 * cannot run in a transaction) and without a time limit, so the first requests after the
 * move run as planned. Only table ownership is needed, as for the copy.
 */
async function vacuumAndAnalyse(client: pg.ClientBase, tables: readonly TargetTable[]): Promise<void> {
  await client.query('SET statement_timeout = 0');
  for (const table of tables) await client.query(`VACUUM (ANALYZE) ${ident(table.name)}`);
}

/** The snapshot must hold exactly the target's tables and columns (the same schema version). */
function checkSameTables(source: Database.Database, tables: TargetTable[]): void {
  const sourceTables = source.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck().all() as string[];
  const targetNames = new Set(tables.map((t) => t.name));
  const onlySource = sourceTables.filter((name) => !targetNames.has(name));
  const onlyTarget = [...targetNames].filter((name) => !sourceTables.includes(name));
  if (onlySource.length > 0 || onlyTarget.length > 0) {
    throw new CommandError(
      `the SQLite and PostgreSQL schemas differ: only in SQLite: ${onlySource.join(', ') || 'none'}; only in PostgreSQL: ${onlyTarget.join(', ') || 'none'}`,
    );
  }
  for (const table of tables) {
    const columns = source.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table.name) as string[];
    const expected = table.columns.map((c) => c.name).filter((name) => name !== ROWID || columns.includes(ROWID));
    if (columns.join(',') !== expected.join(',')) {
      throw new CommandError(`the columns of ${table.name} differ: SQLite has ${columns.join(', ')}; PostgreSQL has ${expected.join(', ')}`);
    }
  }
}

/** Integers as exact decimal text (they may exceed a double); everything else as it is. */
function forPostgres(value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * One INSERT per batch with one array parameter per column, zipped back into rows by
 * `unnest`. Identity columns take the source's values: `OVERRIDING SYSTEM VALUE` lets the
 * GENERATED ALWAYS `rowid` columns accept them (and changes nothing for BY DEFAULT ones).
 */
async function copyTable(client: pg.ClientBase, source: Database.Database, table: TargetTable): Promise<void> {
  const names = table.columns.map((c) => ident(c.name)).join(', ');
  const arrays = table.columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
  const insert = `INSERT INTO ${ident(table.name)} (${names}) OVERRIDING SYSTEM VALUE SELECT * FROM unnest(${arrays})`;
  // SQLite's rowid is selected by name: a rowid table always has it, under any column list.
  const select = source
    .prepare(`SELECT ${names} FROM ${ident(table.name)}${hasRowid(table) ? ` ORDER BY ${ROWID}` : ''}`)
    .raw(true)
    .safeIntegers(true);
  let batch: unknown[][] = table.columns.map(() => []);
  let size = 0;
  const flush = async () => {
    if (size === 0) return;
    await client.query(insert, batch);
    batch = table.columns.map(() => []);
    size = 0;
  };
  // Read in bounded batches: the iterator holds the snapshot's connection, which nothing else uses.
  for (const row of select.iterate() as Iterable<unknown[]>) {
    row.forEach((value, i) => batch[i]!.push(forPostgres(value)));
    if (++size === ROWS_PER_STATEMENT) await flush();
  }
  await flush();
}

const hasRowid = (table: TargetTable) => table.columns.some((c) => c.name === ROWID);

/** Identity sequences continue after the largest copied value, so the next insert gets a fresh id. */
async function resetIdentities(client: pg.ClientBase, table: TargetTable): Promise<void> {
  for (const column of table.columns.filter((c) => c.identity)) {
    await client.query(
      `SELECT setval(pg_get_serial_sequence($1, $2), m) FROM (SELECT max(${ident(column.name)}) AS m FROM ${ident(table.name)}) x WHERE m IS NOT NULL`,
      [ident(table.name), column.name],
    );
  }
}

/** Row counts of every table and a sample of reputations, compared inside the copy's transaction. */
async function verify(client: pg.ClientBase, source: Database.Database, tables: TargetTable[]): Promise<CopySummary> {
  const target = await countTargetRows(client, tables.map((t) => t.name));
  const summary: CopySummary = { tables: [], reputationsChecked: 0 };
  const mismatches: string[] = [];
  for (const table of tables) {
    const expected = source.prepare(`SELECT count(*) FROM ${ident(table.name)}`).pluck().get() as number;
    const copied = target.get(table.name) ?? 0;
    if (copied !== expected) mismatches.push(`${table.name}: ${expected} rows in SQLite, ${copied} in PostgreSQL`);
    summary.tables.push({ name: table.name, rows: expected });
  }
  if (mismatches.length > 0) throw new CommandError(`the copy does not match the source, nothing was kept: ${mismatches.join('; ')}`);

  const sample = reputationSample(source);
  const { rows } = await client.query<{ id: string; reputation: string }>(`SELECT id, reputation FROM iocs WHERE id = ANY($1)`, [[...sample.keys()]]);
  const copied = new Map(rows.map((row) => [row.id, Number(row.reputation)]));
  for (const [id, reputation] of sample) {
    if (copied.get(id) !== reputation) mismatches.push(`IoC ${id}: reputation ${reputation} in SQLite, ${copied.get(id) ?? 'missing'} in PostgreSQL`);
  }
  if (mismatches.length > 0) throw new CommandError(`the copy does not match the source, nothing was kept: ${mismatches.join('; ')}`);
  summary.reputationsChecked = sample.size;
  return summary;
}

/** Random IoCs plus the extremes: lowest and highest reputation, first and last inserted. */
function reputationSample(source: Database.Database): Map<string, number> {
  const rows = source
    .prepare(
      `SELECT id, reputation FROM iocs WHERE id IN (
         SELECT id FROM (SELECT id FROM iocs ORDER BY random() LIMIT ${REPUTATION_SAMPLE})
         UNION SELECT id FROM (SELECT id FROM iocs ORDER BY reputation, id LIMIT 1)
         UNION SELECT id FROM (SELECT id FROM iocs ORDER BY reputation DESC, id LIMIT 1)
         UNION SELECT id FROM (SELECT id FROM iocs ORDER BY rowid LIMIT 1)
         UNION SELECT id FROM (SELECT id FROM iocs ORDER BY rowid DESC LIMIT 1))`,
    )
    .all() as { id: string; reputation: number }[];
  return new Map(rows.map((row) => [row.id, row.reputation]));
}
