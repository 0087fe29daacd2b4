import { derivedPaths } from '../../config.js';
import { MIGRATIONS } from '../../migrations/index.js';
import { migrate } from '../../shared/db/migrate.js';
import { closeDatabase, openDatabase } from '../../shared/db/open.js';
import { cliConfig, UsageError, type CliCommand } from '../context.js';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'create the database or bring its schema up to date',
  usage: 'panguard migrate',
  async run(args, io) {
    if (args.length > 0) throw new UsageError(`migrate takes no arguments, got "${args[0]}"`);
    const config = cliConfig(io);
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
