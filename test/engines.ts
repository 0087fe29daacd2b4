/**
 * Running one test on both engines: SQLite (the helper's temp file) and PostgreSQL (a throw-away
 * cluster per test file, a fresh migrated database per test). A test asks for `storageOn(engine)`
 * and hands it to a fixture (`buildManager(t, { storage })`); rows are read back through the
 * same port with `selectRows`, so one assertion checks both engines.
 */
import tap from 'tap';
import { POSTGRES_MIGRATIONS } from '../src/migrations/postgres/index.js';
import { migratePostgres } from '../src/shared/db/migrate-postgres.js';
import { openPostgresStorage } from '../src/shared/db/postgres-storage.js';
import { defineStatement, type Params, type Statement, type Storage } from '../src/shared/db/storage.js';
import { startPostgres, type PostgresCluster } from './postgres.js';

export const ENGINES = ['sqlite', 'postgres'] as const;
export type Engine = (typeof ENGINES)[number];

let cluster: Promise<{ cluster: PostgresCluster; template: string }> | null = null;

/** One cluster for the test file (stopped when the file's tests end) and a migrated database to copy. */
function sharedCluster() {
  cluster ??= (async () => {
    const started = await startPostgres(tap);
    const url = await started.freshDatabase();
    await migratePostgres(url, POSTGRES_MIGRATIONS);
    return { cluster: started, template: new URL(url).pathname.slice(1) };
  })();
  return cluster;
}

/**
 * What a fixture runs on: undefined for SQLite (the fixture's own temp file), or the storage
 * port over a fresh migrated PostgreSQL database, which the fixture closes after its app.
 */
export async function storageOn(engine: Engine): Promise<Storage | undefined> {
  if (engine === 'sqlite') return undefined;
  const { cluster: running, template } = await sharedCluster();
  const connectionString = await running.freshDatabase({ template });
  return openPostgresStorage({ connectionString, poolSize: 10, statementTimeoutMs: 30_000, ssl: false });
}

const statements = new Map<string, Statement<Params, unknown>>();

/** Rows of a test's own query (SQLite's dialect, `?` parameters) through the port, on either engine. */
export async function selectRows<Row>(storage: Storage, sql: string, params: readonly unknown[] = []): Promise<Row[]> {
  return (await storage.all(statementOf(sql), params)) as Row[];
}

function statementOf(sql: string): Statement<readonly unknown[], unknown> {
  let statement = statements.get(sql);
  if (statement === undefined) {
    statement = defineStatement<readonly unknown[], unknown>(sql) as Statement<Params, unknown>;
    statements.set(sql, statement);
  }
  return statement as Statement<readonly unknown[], unknown>;
}

/** Runs a test's own write (SQLite's dialect, `?` parameters) through the port; rows changed. */
export async function execute(storage: Storage, sql: string, params: readonly unknown[] = []): Promise<number> {
  return (await storage.run(statementOf(sql), params)).changes;
}
