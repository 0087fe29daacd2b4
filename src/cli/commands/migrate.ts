import { derivedPaths, withoutPassword } from '../../config.js';
import { MIGRATIONS } from '../../migrations/index.js';
import { POSTGRES_MIGRATIONS } from '../../migrations/postgres/index.js';
import { migrate } from '../../shared/db/migrate.js';
import { migratePostgres } from '../../shared/db/migrate-postgres.js';
import { closeDatabase, openDatabase } from '../../shared/db/open.js';
import { postgresStorageOptions } from '../../shared/db/postgres-config.js';
import { openCheckedPool } from '../postgres-target.js';
import { cliConfig, UsageError, type CliCommand, type CliIo } from '../context.js';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'create the database or bring its schema up to date (the SQLite file, or PostgreSQL when DATABASE_URL is set)',
  usage: 'panguard migrate',
  async run(args, io) {
    if (args.length > 0) throw new UsageError(`migrate takes no arguments, got "${args[0]}"`);
    const config = cliConfig(io);
    if (config.database.url !== undefined) {
      await migrateConfiguredPostgres({ ...config.database, url: config.database.url }, io);
      return;
    }
    const { databasePath } = derivedPaths(config);
    const db = openDatabase(databasePath, { synchronous: config.sqliteSynchronous });
    try {
      const applied = migrate(db, MIGRATIONS);
      const version = db.pragma('user_version', { simple: true }) as number;
      io.out(applied.length > 0 ? `applied migrations ${applied.join(', ')}; ${databasePath} is at version ${version}` : `${databasePath} is up to date (version ${version})`);
    } finally {
      closeDatabase(db);
    }
  },
};

/** The same checks the server will make (collation), then the ordered list under its advisory lock. */
async function migrateConfiguredPostgres(database: Parameters<typeof postgresStorageOptions>[0], io: CliIo): Promise<void> {
  const shown = withoutPassword(database.url);
  const pool = await openCheckedPool(postgresStorageOptions(database));
  try {
    const result = await migratePostgres(pool, POSTGRES_MIGRATIONS);
    io.out(result.applied.length > 0 ? `applied migrations ${result.applied.join(', ')}; ${shown} is at version ${result.version}` : `${shown} is up to date (version ${result.version})`);
  } finally {
    await pool.end();
  }
}
