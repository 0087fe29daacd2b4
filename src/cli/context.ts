import { existsSync } from 'node:fs';
import { loadConfig, derivedPaths, type Config } from '../config.js';
import { MIGRATIONS } from '../migrations/index.js';
import { migrate } from '../shared/db/migrate.js';
import { closeDatabase, openDatabase, type Db } from '../shared/db/open.js';
import { DatabaseOpenError, openConfiguredStorage } from '../shared/db/open-storage.js';
import type { Storage } from '../shared/db/storage.js';

/** Where a command writes: stdout for results, stderr for errors; tests capture both. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Text piped on standard input (e.g. a password), read only when a command asks. */
  readStdin(): Promise<string>;
}

/** A mistake in the command line: printed as one line with exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Anything else that stops a command (missing file, unknown id): exit code 1. */
export class CommandError extends Error {
  override name = 'CommandError';
}

export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  run(args: string[], io: CliIo): Promise<void>;
}

/** The same configuration the server reads (defaults ← PANGUARD_CONFIG ← environment). */
export function cliConfig(io: CliIo): Config {
  return loadConfig({ env: io.env });
}

/** Opens the server's database file; refuses to create one where none exists. */
export function openExistingDatabase(config: Config): Db {
  const { databasePath } = derivedPaths(config);
  if (!existsSync(databasePath)) {
    throw new CommandError(`no database at ${databasePath}; start the server once or run "panguard migrate"`);
  }
  return openDatabase(databasePath, { synchronous: config.sqliteSynchronous });
}

/**
 * Opens (or creates) the server's database and brings its schema up to date, for commands
 * that write rows the server reads (accounts, keys, seeded data) and may run before its first start.
 */
export function openMigratedDatabase(config: Config): Db {
  const { databasePath } = derivedPaths(config);
  const db = openDatabase(databasePath, { synchronous: config.sqliteSynchronous });
  try {
    migrate(db, MIGRATIONS);
  } catch (error) {
    closeDatabase(db);
    throw error;
  }
  return db;
}

/**
 * The server's database on either engine (the SQLite file, or PostgreSQL when DATABASE_URL is
 * set), brought up to date, for commands that write through the same services as the server.
 * Close it with `storage.close()`.
 */
export async function openMigratedStorage(config: Config): Promise<Storage> {
  try {
    return (await openConfiguredStorage({ ...config, databasePath: derivedPaths(config).databasePath })).storage;
  } catch (error) {
    if (error instanceof DatabaseOpenError) throw new CommandError(error.message);
    throw error;
  }
}
