import { createHash } from 'node:crypto';
import pg from 'pg';
import { multiRowText, numberedValues, toNumberedParameters, withoutPlannerHints, type NumberedSql } from './sql-params.js';
import { BATCH_ROWS, type Params, type Queryable, type RunResult, type Statement, type Storage, type Transaction, type TransactionOptions } from './storage.js';

export interface PostgresStorageOptions {
  /** `postgres://user:password@host:port/database?…` */
  connectionString: string;
  /** Connections the pool opens at most. */
  poolSize: number;
  /** The server cancels any statement running longer (0 = no limit). */
  statementTimeoutMs: number;
  /** TLS to the server; false for a local socket or a trusted network. */
  ssl: false | { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string };
  /** An idle pooled connection failed (server restart, network): the pool drops it and opens another when needed. */
  onIdleConnectionError?: (error: Error) => void;
}

const INT8 = 20;
const NUMERIC = 1700;

/**
 * Counts, sums and averages come back as int8 or numeric, which node-postgres hands over as
 * strings because they may exceed a double. Ours are counts: numbers, as on SQLite. A value a
 * double cannot hold exactly fails loudly instead of being rounded silently.
 */
function parsedAsNumber(text: string): number {
  const value = Number(text);
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw new RangeError(`${text} does not fit a JavaScript number`);
  }
  return value;
}

/** Collations under which text orders by code point, as SQLite's BINARY collation does. */
const CODE_POINT_ORDER = new Set(['c', 'posix', 'c.utf8', 'c.utf-8']);

/**
 * ISO timestamps, keyset cursors and prefix searches rely on text ordering byte by byte as on
 * SQLite; a linguistic collation (en_US, ICU) orders 'a' before 'B' and breaks them. The
 * provider columns differ by version, hence the row as JSON.
 */
export async function refuseLinguisticCollation(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ name: string; collate: string; provider: string | null; locale: string | null }>(
    `SELECT d.datname AS name, d.datcollate AS collate,
            to_jsonb(d) ->> 'datlocprovider' AS provider,
            coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') AS locale
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  const database = rows[0]!;
  const provider = database.provider ?? 'c';
  const collation = provider === 'c' ? database.collate : provider === 'b' ? database.locale ?? '' : `${database.locale} (ICU)`;
  if ((provider === 'c' || provider === 'b') && CODE_POINT_ORDER.has(collation.toLowerCase())) return;
  throw new Error(
    `The PostgreSQL database "${database.name}" uses the collation ${collation}; Panguard needs text ordered byte by byte ` +
      `as on SQLite (timestamps, cursors, prefix searches). Create the database with ` +
      `CREATE DATABASE "${database.name}" LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 and point DATABASE_URL at it.`,
  );
}

interface Prepared extends NumberedSql {
  /** node-postgres parses a named statement once per connection and reuses it afterwards. */
  readonly name: string;
}

/**
 * The storage port on a node-postgres pool. Statements are rewritten to `$n` parameters once,
 * then run as named prepared statements; transactions hold one pooled connection from BEGIN
 * to COMMIT and take their advisory locks right after BEGIN.
 */
export async function openPostgresStorage(options: PostgresStorageOptions): Promise<Storage> {
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8, parsedAsNumber);
  types.setTypeParser(NUMERIC, parsedAsNumber);
  const poolOf = (max: number) =>
    new pg.Pool({
      connectionString: options.connectionString,
      max,
      statement_timeout: options.statementTimeoutMs > 0 ? options.statementTimeoutMs : false,
      ssl: options.ssl,
      types,
    }).on('error', options.onIdleConnectionError ?? (() => {}));
  const pool = poolOf(options.poolSize);
  try {
    await refuseLinguisticCollation(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  // Opened on the first probe; one connection that requests never hold.
  const probePool = poolOf(1);

  const prepared = new WeakMap<Statement<Params, unknown>, Prepared>();
  function preparedFor(statement: Statement<Params, unknown>): Prepared {
    let entry = prepared.get(statement);
    if (entry === undefined) {
      const numbered = toNumberedParameters(statement.postgresSql ?? withoutPlannerHints(statement.sql));
      // Named by content: the same text always gets the same name, on every connection and replica.
      const name = `pg_${createHash('sha256').update(numbered.text).digest('hex').slice(0, 24)}`;
      entry = { ...numbered, name };
      prepared.set(statement, entry);
    }
    return entry;
  }

  type Runner = Pick<pg.Pool, 'query'> | pg.PoolClient;
  async function query(on: Runner, statement: Statement<Params, unknown>, params: unknown): Promise<pg.QueryResult> {
    const entry = preparedFor(statement);
    return on.query({ name: entry.name, text: entry.text, values: numberedValues(entry, params), ...(statement.asArrays ? { rowMode: 'array' as const } : {}) });
  }
  const queries = (on: () => Runner) => ({
    all: async (statement: Statement<Params, unknown>, params?: unknown) => (await query(on(), statement, params)).rows,
    get: async (statement: Statement<Params, unknown>, params?: unknown) => (await query(on(), statement, params)).rows[0],
    run: async (statement: Statement<Params, unknown>, params?: unknown): Promise<RunResult> => ({
      changes: (await query(on(), statement, params)).rowCount ?? 0,
    }),
  });

  function createTransaction(client: pg.PoolClient, durable: boolean): Transaction & { end(): void } {
    let ended = false;
    let savepoints = 0;
    const tx = {
      durable,
      ...queries(() => {
        if (ended) throw new Error('The transaction has ended');
        return client;
      }),
      async runBatch(statement: Statement<Params, unknown>, rows: readonly unknown[]): Promise<RunResult> {
        if (ended) throw new Error('The transaction has ended');
        const entry = preparedFor(statement);
        let changes = 0;
        for (let start = 0; start < rows.length; start += BATCH_ROWS) {
          const chunk = rows.slice(start, start + BATCH_ROWS);
          // Unnamed: a text per row count would leave a prepared statement per size on every connection.
          const result = await client.query({ text: multiRowText(entry, chunk.length), values: chunk.flatMap((row) => numberedValues(entry, row)) });
          changes += result.rowCount ?? 0;
        }
        return { changes };
      },
      async savepoint<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
        if (ended) throw new Error('The transaction has ended');
        const name = `nested_${++savepoints}`;
        await client.query(`SAVEPOINT ${name}`);
        try {
          const result = await work(tx as Transaction);
          await client.query(`RELEASE SAVEPOINT ${name}`);
          return result;
        } catch (error) {
          await client.query(`ROLLBACK TO SAVEPOINT ${name}`);
          await client.query(`RELEASE SAVEPOINT ${name}`);
          throw error;
        }
      },
      end: () => {
        ended = true;
      },
    };
    return tx as Transaction & { end(): void };
  }

  // Every lock of a transaction in one round trip (a heartbeat batch names one per agent), taken
  // in the order of their keys: two transactions wanting overlapping sets queue instead of
  // deadlocking, even when two names share a key.
  const takeLocks = {
    name: 'panguard_advisory_xact_locks',
    text: `SELECT count(pg_advisory_xact_lock(key)) AS n
           FROM (SELECT DISTINCT hashtextextended(name, 0) AS key FROM unnest(CAST($1 AS text[])) AS name ORDER BY key) AS keys`,
  };

  /**
   * Runs `work` (which begins a transaction) on one pooled connection and commits when it
   * resolves; rolls back when it rejects. A connection whose rollback failed is unusable and
   * is dropped instead of going back to the pool.
   */
  async function onOneConnection<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  return {
    engine: 'postgres',
    get open() {
      return !pool.ended;
    },
    ...queries(() => pool),
    probe: queries(() => probePool),
    transaction<T>({ durable, locks = [] }: TransactionOptions, work: (tx: Transaction) => Promise<T>): Promise<T> {
      return onOneConnection(async (client) => {
        const tx = createTransaction(client, durable);
        try {
          // One round trip: a simple query may carry several statements when it has no parameters.
          await client.query(`BEGIN; SET LOCAL synchronous_commit = ${durable ? 'on' : 'off'}`);
          if (locks.length > 0) await client.query({ ...takeLocks, values: [locks] });
          return await work(tx);
        } finally {
          tx.end();
        }
      });
    },
    snapshot<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
      return onOneConnection(async (client) => {
        let ended = false;
        try {
          await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          return await work(
            queries(() => {
              if (ended) throw new Error('The snapshot has ended');
              return client;
            }) as Queryable,
          );
        } finally {
          ended = true;
        }
      });
    },
    listen: (channel: string, onNotify: () => void) => listenOn({ connectionString: options.connectionString, ssl: options.ssl }, channel, onNotify),
    poolUse: () => ({ inUse: pool.totalCount - pool.idleCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: async () => {
      await Promise.all([pool.end(), probePool.end()]);
    },
  } as Storage;
}

/** How long a listener waits before it connects again after its connection was lost. */
const RELISTEN_DELAY_MS = 1000;

/**
 * LISTEN on a connection outside the pool (a pooled one would be handed to requests), made
 * again a second after it is lost, for as long as the listener is not stopped.
 */
async function listenOn(
  connection: Pick<PostgresStorageOptions, 'connectionString' | 'ssl'>,
  channel: string,
  onNotify: () => void,
): Promise<() => Promise<void>> {
  let current: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
  const connect = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: connection.connectionString, ssl: connection.ssl });
    client.on('notification', (message) => {
      if (message.channel === channel) onNotify();
    });
    // Reported by 'end', which every failure of the connection is followed by.
    client.on('error', () => {});
    client.on('end', () => {
      if (current !== client) return;
      current = null;
      if (!stopped) relistenLater();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (stopped) {
      await client.end().catch(() => {});
      return;
    }
    current = client;
    onNotify();
  };
  const relistenLater = () => {
    retry = setTimeout(() => {
      retry = null;
      connect().catch(() => {
        if (!stopped) relistenLater();
      });
    }, RELISTEN_DELAY_MS);
    retry.unref();
  };
  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const client = current;
    current = null;
    await client?.end().catch(() => {});
  };
}
