import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type Database from 'better-sqlite3';
import pg from 'pg';
import { POSTGRES_MIGRATIONS } from '../../migrations/postgres/index.js';
import { migratePostgres } from '../../shared/db/migrate-postgres.js';
import { ConfigError, checkDatabaseUrl, withoutPassword } from '../../config.js';
import { postgresStorageOptions } from '../../shared/db/postgres-config.js';
import type { PostgresStorageOptions } from '../../shared/db/postgres-storage.js';
import { cliConfig, CommandError, UsageError, type CliCommand, type CliIo } from '../context.js';
import { copyIntoTarget, type CopySummary } from '../data-copy.js';
import { openCheckedPool, seededRowCounts, whyNotEmpty } from '../postgres-target.js';
import { openLiveSqlite, takeSnapshot } from '../sqlite-snapshot.js';

interface MigrateDataArgs {
  from: string;
  /** The target: `--to`, else DATABASE_URL. */
  to: string;
}

/** The one check of the command line: a file path, and a postgres:// URL given or configured. */
function parseMigrateDataArgs(args: string[], configuredUrl: string | undefined): MigrateDataArgs {
  let values: { from?: string; to?: string };
  try {
    ({ values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.from) throw new UsageError('--from <sqlite file> is required');
  const to = values.to ?? configuredUrl;
  if (!to) throw new UsageError('--to <postgres://…> is required when DATABASE_URL is not set');
  try {
    checkDatabaseUrl(to, values.to ? '--to' : 'DATABASE_URL');
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  return { from: path.resolve(values.from), to };
}

export const migrateDataCommand: CliCommand = {
  name: 'migrate-data',
  summary: 'copy a SQLite deployment (live or stopped) into a new, empty PostgreSQL database and verify the copy',
  usage: 'panguard migrate-data --from <sqlite file> [--to <postgres://user:password@host:port/database>]  (default: DATABASE_URL; TLS as DATABASE_TLS says)',
  async run(args, io) {
    const config = cliConfig(io);
    const { from, to } = parseMigrateDataArgs(args, config.database.url);
    const ssl = postgresStorageOptions({ ...config.database, url: to }).ssl;
    const version = POSTGRES_MIGRATIONS.at(-1)!.version;

    const live = openLiveSqlite(from);
    let snapshot: Awaited<ReturnType<typeof takeSnapshot>>;
    try {
      checkSourceVersion(live.pragma('user_version', { simple: true }) as number, version, from);
      snapshot = await takeSnapshot(live, io.env.TMPDIR || tmpdir());
    } finally {
      live.close();
    }

    try {
      // Checked again on the snapshot: the live file may have been migrated since.
      checkSourceVersion(snapshot.db.pragma('user_version', { simple: true }) as number, version, from);
      io.out(`snapshot of ${from} taken (schema version ${version})`);
      const summary = await copyToPostgres(snapshot.db, { connectionString: to, ssl }, version, io);
      const width = Math.max(...summary.tables.map((t) => t.name.length));
      for (const table of summary.tables) io.out(`  ${table.name.padEnd(width)}  ${table.rows}`);
      const total = summary.tables.reduce((sum, t) => sum + t.rows, 0);
      io.out(
        `copied ${total} rows in ${summary.tables.length} tables; row counts equal, ` +
          `${summary.reputationsChecked} IoC reputations identical, identity sequences reset`,
      );
    } finally {
      snapshot.remove();
    }
  },
};

/** Checks, migrates and fills the target over one connection (a pool of one, which the collation check and migratePostgres take). */
async function copyToPostgres(
  source: Database.Database,
  target: { connectionString: string; ssl: PostgresStorageOptions['ssl'] },
  version: number,
  io: CliIo,
): Promise<CopySummary> {
  const pool = await openCheckedPool(target);
  try {
    const seeded = seededRowCounts(version);
    const client = await pool.connect();
    try {
      const refused = await whyNotEmpty(client, version, seeded);
      if (refused) throw new CommandError(`the target database is not empty: ${refused}; migrate-data copies only into a new, empty database`);
      const migrated = await migratePostgres(client, POSTGRES_MIGRATIONS);
      io.out(`${withoutPassword(target.connectionString)} is at schema version ${migrated.version}`);
      return await copyIntoTarget(client, source, { version, seeded });
    } catch (error) {
      if (error instanceof pg.DatabaseError) throw new CommandError(`PostgreSQL refused the copy, which was rolled back: ${error.message}`);
      throw error;
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}

function checkSourceVersion(found: number, expected: number, file: string): void {
  if (found < expected) {
    throw new CommandError(
      `${file} is at schema version ${found}, PostgreSQL starts at ${expected}: run "panguard migrate" on it first ` +
        `(DATABASE_PATH=${file} panguard migrate), then try again`,
    );
  }
  if (found > expected) {
    throw new CommandError(`${file} is at schema version ${found}, newer than this build knows (${expected}); upgrade Panguard first`);
  }
}
