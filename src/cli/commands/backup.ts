import { closeSync, openSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { cliConfig, CommandError, openExistingDatabase, UsageError, type CliCommand } from '../context.js';
import { onlineBackup } from '../sqlite-snapshot.js';

/** Created exclusively and 0600 before a byte of the database is in it; never overwrites. */
function createPrivateFile(file: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CommandError(`${file} exists already; choose a new file name`);
    throw new CommandError(`cannot create ${file}: ${code ?? String(error)}`);
  }
}

export const backupCommand: CliCommand = {
  name: 'backup',
  summary: 'copy the SQLite database consistently with its online backup API, also while the server runs (PostgreSQL: pg_dump)',
  usage: 'panguard backup <file>',
  async run(args, io) {
    const [target, ...rest] = args;
    if (!target || rest.length > 0) throw new UsageError('backup needs exactly one argument: the file to write');
    const config = cliConfig(io);
    if (config.database.url !== undefined) {
      // A copy of a PostgreSQL database is the server's business: pg_dump takes a consistent
      // snapshot without stopping writers, and is what its restore tools read.
      throw new CommandError(
        `DATABASE_URL points at PostgreSQL: back it up with pg_dump, for example ` +
          `pg_dump --format=custom --file=${target} "$DATABASE_URL" (restore with pg_restore --dbname=… ${target}), ` +
          `or with your provider's snapshots; panguard backup copies the SQLite file only`,
      );
    }
    const destination = path.resolve(target);
    const db = openExistingDatabase(config);
    try {
      createPrivateFile(destination);
      try {
        await onlineBackup(db, destination);
      } catch (error) {
        rmSync(destination, { force: true });
        throw error;
      }
    } finally {
      db.close();
    }
    const copy = new Database(destination, { readonly: true });
    try {
      const check = copy.pragma('integrity_check', { simple: true });
      if (check !== 'ok') throw new CommandError(`the backup at ${destination} failed its integrity check: ${String(check)}`);
      io.out(`backup written to ${destination} (schema version ${String(copy.pragma('user_version', { simple: true }))}, integrity ok)`);
    } finally {
      copy.close();
    }
  },
};
