import pg from 'pg';
import { MigrationError } from './migrate.js';

export interface PostgresMigration {
  /** Strictly increasing along the list; the same number as the SQLite step of the same change. */
  version: number;
  name: string;
  /** Run in order inside one transaction; plain SQL text, no parameters. */
  statements: readonly string[];
}

export interface PostgresMigrationResult {
  /** The versions this call applied, in order (none when another process got there first). */
  applied: number[];
  /** The schema version the database is at now. */
  version: number;
}

/**
 * Every process that migrates takes this advisory lock first, so two processes starting
 * together queue: the second finds the steps recorded and applies nothing. The number is
 * arbitrary but fixed ('panguard' in ASCII) and must never change.
 */
const MIGRATION_LOCK = 0x70616e6775617264n;

const CREATE_VERSIONS = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

function checkOrder(migrations: readonly PostgresMigration[]): void {
  migrations.forEach((migration, index) => {
    const previous = index === 0 ? 0 : migrations[index - 1]!.version;
    if (!Number.isInteger(migration.version) || migration.version <= previous) {
      throw new MigrationError(`Migration list is out of order at "${migration.name}": version ${migration.version} follows ${previous}`);
    }
  });
}

/**
 * Runs `work` in a transaction that holds the migration lock: PostgreSQL's DDL is
 * transactional, so a step that fails leaves the database exactly as it found it. No
 * statement timeout: an index build over millions of rows may take minutes.
 */
async function locked<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL statement_timeout = 0`);
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query(CREATE_VERSIONS);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function currentVersion(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
  return rows[0]?.version ?? 0;
}

function firstLine(sql: string): string {
  return sql.trim().split('\n', 1)[0]!.slice(0, 120);
}

async function applyAll(client: pg.ClientBase, migrations: readonly PostgresMigration[]): Promise<PostgresMigrationResult> {
  checkOrder(migrations);
  const latest = migrations.at(-1)?.version ?? 0;
  const current = await locked(client, () => currentVersion(client));
  if (current > latest) {
    throw new MigrationError(
      `Database schema version ${current} is newer than this build knows (${latest}); upgrade Panguard before using this database`,
    );
  }
  const applied: number[] = [];
  for (const migration of migrations.filter((m) => m.version > current)) {
    // Checked again under the lock: another process may have applied it meanwhile.
    const ran = await locked(client, async () => {
      if ((await currentVersion(client)) >= migration.version) return false;
      for (const statement of migration.statements) {
        try {
          await client.query(statement);
        } catch (error) {
          throw new MigrationError(
            `Migration ${migration.version} (${migration.name}) failed at "${firstLine(statement)}": ${(error as Error).message}`,
          );
        }
      }
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
      return true;
    });
    if (ran) applied.push(migration.version);
  }
  return { applied, version: await locked(client, () => currentVersion(client)) };
}

/**
 * Brings a PostgreSQL database to the newest version of `migrations`, each step in its own
 * transaction with its row in `schema_migrations`, under an advisory lock; refuses a database
 * newer than the list. Takes a connection URL (a connection of its own, closed afterwards),
 * a pool (one of its connections for the whole run) or a connected client.
 */
export async function migratePostgres(
  target: string | pg.Pool | pg.ClientBase,
  migrations: readonly PostgresMigration[],
): Promise<PostgresMigrationResult> {
  if (typeof target === 'string') {
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    try {
      return await applyAll(client, migrations);
    } finally {
      await client.end();
    }
  }
  if (target instanceof pg.Pool) {
    const client = await target.connect();
    let broken: Error | undefined;
    try {
      return await applyAll(client, migrations);
    } catch (error) {
      // Dropped rather than reused after any failure: a failed ROLLBACK may have left it mid-transaction.
      broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }
  return applyAll(target, migrations);
}
