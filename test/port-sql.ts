/**
 * A test's own SQL through the storage port, on either engine: written in SQLite's dialect
 * with `?` or `@name` parameters, declared once per text. No tap here, so seeders can use it
 * anywhere.
 */
import { defineStatement, type Params, type Queryable, type Statement } from '../src/shared/db/storage.js';

/** Positional values for `?`, or an object for `@name`. */
export type SqlParams = readonly unknown[] | Readonly<Record<string, unknown>>;

const statements = new Map<string, Statement<Params, unknown>>();

/** Rows of a test's own query (SQLite's dialect) through the port, on either engine. */
export async function selectRows<Row>(storage: Queryable, sql: string, params: SqlParams = []): Promise<Row[]> {
  return (await storage.all(statementOf(sql), params)) as Row[];
}

function statementOf(sql: string): Statement<SqlParams, unknown> {
  let statement = statements.get(sql);
  if (statement === undefined) {
    statement = defineStatement<SqlParams, unknown>(sql) as Statement<Params, unknown>;
    statements.set(sql, statement);
  }
  return statement as Statement<SqlParams, unknown>;
}

/** Runs a test's own write (SQLite's dialect) through the port; rows changed. */
export async function execute(storage: Queryable, sql: string, params: SqlParams = []): Promise<number> {
  return (await storage.run(statementOf(sql), params)).changes;
}
