import pg from 'pg';
import { withoutPassword, type Config } from '../../config.js';
import { MIGRATIONS } from '../../migrations/index.js';
import { POSTGRES_MIGRATIONS } from '../../migrations/postgres/index.js';
import { migrate } from './migrate.js';
import { migratePostgres } from './migrate-postgres.js';
import { closeDatabase, openDatabase, type Db } from './open.js';
import { explainedConnectionError, postgresStorageOptions } from './postgres-config.js';
import { openPostgresStorage, refuseLinguisticCollation } from './postgres-storage.js';
import { sqliteStorageOf } from './sqlite-storage.js';
import type { Storage } from './storage.js';

/** The configured database, open and at the newest schema version. */
export interface OpenedStorage {
  storage: Storage;
  /** The SQLite connection under `storage` (null on PostgreSQL): for what only SQLite has. */
  sqlite: Db | null;
  /** Migration versions this opening applied (empty when the schema was current). */
  applied: number[];
}

/** Opening failed before anything was changed: the message says what to do. */
export class DatabaseOpenError extends Error {
  override name = 'DatabaseOpenError';
}

type DatabaseSettings = Pick<Config, 'database' | 'sqliteSynchronous' | 'sqliteMmapMiB'> & { databasePath: string };

/**
 * `DATABASE_URL` unset: the SQLite file in the data folder, created if needed. Set: the
 * PostgreSQL database it names, collation checked, migrated under the advisory lock (two
 * processes starting together migrate once; a failing step leaves the database as it was).
 */
export async function openConfiguredStorage(settings: DatabaseSettings, options: { onIdleConnectionError?: (error: Error) => void } = {}): Promise<OpenedStorage> {
  const { url } = settings.database;
  if (url === undefined) {
    const sqlite = openDatabase(settings.databasePath, { synchronous: settings.sqliteSynchronous, mmapMiB: settings.sqliteMmapMiB });
    try {
      return { storage: sqliteStorageOf(sqlite), sqlite, applied: migrate(sqlite, MIGRATIONS) };
    } catch (error) {
      closeDatabase(sqlite);
      throw error;
    }
  }
  const poolOptions = postgresStorageOptions({ ...settings.database, url });
  const shown = withoutPassword(url);
  const migrator = new pg.Pool({ connectionString: poolOptions.connectionString, ssl: poolOptions.ssl, max: 1 });
  migrator.on('error', () => {});
  let applied: number[];
  try {
    // Before any table exists: a database that orders text linguistically is refused untouched.
    await refuseLinguisticCollation(migrator);
    applied = (await migratePostgres(migrator, POSTGRES_MIGRATIONS)).applied;
  } catch (error) {
    throw new DatabaseOpenError(`cannot prepare ${shown}: ${explainedConnectionError(error as Error)}`);
  } finally {
    await migrator.end();
  }
  try {
    return { storage: await openPostgresStorage({ ...poolOptions, onIdleConnectionError: options.onIdleConnectionError }), sqlite: null, applied };
  } catch (error) {
    throw new DatabaseOpenError(`cannot use ${shown}: ${explainedConnectionError(error as Error)}`);
  }
}
