/**
 * Running one test on both engines: SQLite (the helper's temp file) and PostgreSQL (a throw-away
 * cluster per test file, a fresh migrated database per test). A test asks for `storageOn(engine)`
 * and hands it to a fixture (`buildManager(t, { storage })`); rows are read back through the
 * same port with `selectRows`, so one assertion checks both engines.
 */
import tap, { type Test } from 'tap';
import { POSTGRES_MIGRATIONS } from '../src/migrations/postgres/index.js';
import { migratePostgres } from '../src/shared/db/migrate-postgres.js';
import { openPostgresStorage } from '../src/shared/db/postgres-storage.js';
import type { Storage } from '../src/shared/db/storage.js';
import { startPostgres, type PostgresCluster } from './postgres.js';
import { selectRows } from './port-sql.js';

export { execute, selectRows } from './port-sql.js';

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

/**
 * A behaviour test that must hold on SQLite and on PostgreSQL alike: declared once per engine
 * (`name (sqlite)`, `name (postgres)`) with the same body and the same assertions.
 */
export function onBothEngines(name: string, body: (t: Test, engine: Engine) => Promise<void>): void {
  for (const engine of ENGINES) tap.test(`${name} (${engine})`, (t) => body(t, engine));
}

/** Rows in a table, read through the port the app runs on. */
export async function countIn(storage: Storage, table: string): Promise<number> {
  const [row] = await selectRows<{ n: number }>(storage, `SELECT count(*) AS n FROM ${table}`);
  return Number(row!.n);
}

/**
 * The same storage for a second app (Auth and Manager over one database, as in the process):
 * closing it is left to the app that was given the storage itself, so the pool ends once.
 */
export function borrowed(storage: Storage): Storage {
  return Object.create(storage, { close: { value: async () => {} } }) as Storage;
}

/**
 * The address of the PostgreSQL database a storage runs on, for a second connection to it
 * (the operator CLI, another process's SQL). The test cluster trusts local connections.
 */
export async function postgresUrlOf(storage: Storage): Promise<string> {
  const [where] = await selectRows<{ name: string; port: number }>(storage, `SELECT current_database() AS name, inet_server_port() AS port`);
  return `postgres://postgres@127.0.0.1:${where!.port}/${where!.name}`;
}

/**
 * `count` pools on one fresh migrated PostgreSQL database, as that many replicas open them;
 * each is closed by whoever is given it (an app closes its storage).
 */
export async function replicaStorages(count: number): Promise<Storage[]> {
  const first = (await storageOn('postgres'))!;
  const connectionString = await postgresUrlOf(first);
  const storages = [first];
  while (storages.length < count) storages.push(await openPostgresStorage({ connectionString, poolSize: 4, statementTimeoutMs: 30_000, ssl: false }));
  return storages;
}
