import { chmodSync, existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { cliConfig, CommandError, openExistingDatabase, UsageError, type CliCommand } from '../context.js';

export const backupCommand: CliCommand = {
  name: 'backup',
  summary: "copy the database consistently (VACUUM INTO one read snapshot), also while the server runs",
  usage: 'panguard backup <file>',
  async run(args, io) {
    const [target, ...rest] = args;
    if (!target || rest.length > 0) throw new UsageError('backup needs exactly one argument: the file to write');
    const destination = path.resolve(target);
    if (existsSync(destination)) throw new CommandError(`${destination} exists already; choose a new file name`);
    const db = openExistingDatabase(cliConfig(io));
    try {
      // VACUUM INTO writes the snapshot of one read transaction, so it is consistent and
      // finishes while the server keeps writing (WAL lets writers go on). The page-by-page
      // online backup API restarts whenever another connection writes, and under steady
      // writes it may never finish.
      db.prepare('VACUUM INTO ?').run(destination);
    } finally {
      db.close();
    }
    chmodSync(destination, 0o600);
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
