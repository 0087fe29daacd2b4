/**
import type { Storage } from './storage.js';
 * The storage port: what services and stores see of the database, the same on SQLite and on
 * PostgreSQL. Every call returns a Promise (PostgreSQL answers over the network), statements
 * are values declared once at module level, and a transaction is an explicit handle passed
 * down to the code that must run inside it.
 */

/** `@name` parameters take an object, `?` parameters an array, a statement without any nothing. */
export type Params = Readonly<Record<string, unknown>> | readonly unknown[] | void;

declare const shape: unique symbol;

/**
 * One SQL statement in SQLite's dialect with `@name` or `?` parameters. Only its identity and
 * text matter at run time: each adapter prepares it once per connection and caches that by
 * the statement object, so declare it once (module level), never inside a function.
 */
export interface Statement<P extends Params, Row> {
  readonly sql: string;
  /**
   * PostgreSQL's own text, for the few statements whose meaning needs another dialect there
   * (case-folding search, JSON arrays, scalar min/max): same parameters, same rows. Without
   * it the adapter runs `sql`, parameters numbered and SQLite's planner hints dropped.
   */
  readonly postgresSql?: string;
  /**
   * Rows come back as arrays of the column values in select order, not as objects: for the
   * hottest reads, where naming every column of every row (better-sqlite3 interns each name
   * per row) cost as much as the read itself. `Row` is then a tuple type.
   */
  readonly asArrays?: true;
  /** Carries the parameter and row types; never present at run time. */
  readonly [shape]?: (params: P) => Row;
}

/** A statement written once per engine: the rows must be the same on both. */
export interface PerEngineSql {
  sqlite: string;
  postgres: string;
}

const postgresTextBySqlite = new Map<string, string>();
/** Statements are module-level constants, so this holds each once, for as long as the process. */
const declared: Array<Statement<Params, unknown>> = [];

export function defineStatement<P extends Params = void, Row = unknown>(sql: string | PerEngineSql, options: { asArrays?: true } = {}): Statement<P, Row> {
  const text = typeof sql === 'string' ? { sql } : { sql: sql.sqlite, postgresSql: sql.postgres };
  const statement: Statement<P, Row> = Object.freeze(options.asArrays ? { ...text, asArrays: true as const } : text);
  if (typeof sql !== 'string') postgresTextBySqlite.set(sql.sqlite, sql.postgres);
  declared.push(statement as Statement<Params, unknown>);
  return statement;
}

/**
 * Every statement declared by the modules loaded so far, whether or not it ever ran: what
 * the dialect inventory checks on PostgreSQL besides the statements it saw run.
 */
export function declaredStatements(): ReadonlyArray<Statement<Params, unknown>> {
  return declared;
}

/**
 * The PostgreSQL text declared for a statement whose SQLite text is `sqliteSql`, if it has
 * one: how the dialect inventory checks, by the SQL a store prepared, what will run there.
 */
export function declaredPostgresText(sqliteSql: string): string | undefined {
  return postgresTextBySqlite.get(sqliteSql);
}

/** The parameters argument: absent for a statement that takes none. */
export type ParamsArg<P extends Params> = [P] extends [void] ? [] : [params: P];

export interface RunResult {
  /** Rows inserted, updated or deleted by the statement itself (not by triggers). */
  changes: number;
}

export interface Queryable {
  all<P extends Params, Row>(statement: Statement<P, Row>, ...params: ParamsArg<P>): Promise<Row[]>;
  /** The first row, or undefined when there is none. */
  get<P extends Params, Row>(statement: Statement<P, Row>, ...params: ParamsArg<P>): Promise<Row | undefined>;
  run<P extends Params, Row>(statement: Statement<P, Row>, ...params: ParamsArg<P>): Promise<RunResult>;
}

export interface TransactionOptions {
  /**
   * True for what a power loss must not undo once the client was told it happened
   * (credentials, audit entries): FULL sync on SQLite, `synchronous_commit = on` on PostgreSQL.
   */
  durable: boolean;
  /**
   * Names of the domains whose read-then-write this transaction must not interleave with
   * another's (`'tc:changes'`, `'org:42:quota'`): advisory transaction locks on PostgreSQL,
   * taken in sorted order so two transactions never deadlock on them; SQLite's single writer
   * already serialises every write transaction.
   */
  locks?: readonly string[];
}

/** Rows per multi-row statement of `runBatch` on PostgreSQL (its limit is 65,535 values per statement). */
export const BATCH_ROWS = 500;

export interface Transaction extends Queryable {
  /** Whether it commits durably: what writes that must survive a power loss (audit entries) check. */
  readonly durable: boolean;
  /**
   * Runs an `INSERT … VALUES (…)` (or, on PostgreSQL, an `UPDATE … FROM (VALUES (…)) AS v(…)`)
   * once per parameter set, in order, and sums the changes: on
   * SQLite each row's prepared statement in turn (in process, nothing to save); on PostgreSQL
   * up to BATCH_ROWS rows in one multi-row statement, so a batch costs one round trip instead
   * of one per row. For rows whose individual outcome nobody reads.
   */
  runBatch<P extends Params>(statement: Statement<P, unknown>, rows: readonly P[]): Promise<RunResult>;
  /** Runs `work` as nested work: if it throws, only its own writes are undone and the error propagates. */
  savepoint<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

export interface PoolUse {
  /** Connections running a query or holding a transaction. */
  inUse: number;
  /** Open connections waiting for work. */
  idle: number;
  /** Queries and transactions waiting for a connection because all are in use. */
  waiting: number;
}

export interface Storage extends Queryable {
  readonly engine: 'sqlite' | 'postgres';
  /** False once closed (by `close()`, or the SQLite connection underneath): long walks stop early. */
  readonly open: boolean;
  /**
   * Runs `work` in one transaction: committed when its promise resolves, rolled back when it
   * rejects. Inside `work` use `tx` only; the Storage itself waits for the transaction on
   * SQLite, so calling it from inside would never finish. `work` awaits nothing but `tx`:
   * hashing, mail or HTTP happen before or after, never while locks are held (on SQLite a
   * transaction that outlives its event-loop turn is rolled back: SPANNED_TURNS).
   */
  transaction<T>(options: TransactionOptions, work: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * Runs reads that must see one state of the database (stored counts and the corrections on
   * top of them): on PostgreSQL a read-only REPEATABLE READ transaction, one snapshot and no
   * locks, so a commit in between cannot be counted twice; on SQLite the reads run at once,
   * back to back, and no transaction can commit between them (each starts in a turn of its
   * own). `work` awaits nothing but `q`.
   */
  snapshot<T>(work: (q: Queryable) => Promise<T>): Promise<T>;
  /**
   * How the connection pool is used right now (PostgreSQL); absent on SQLite, whose one
   * connection is never waited for.
   */
  poolUse?(): PoolUse;
  /**
   * Reads for health probes on a lane of their own: on PostgreSQL one connection outside the
   * pool, so a probe answers whether the database does while a burst of requests holds every
   * pooled connection (a load balancer must not take a busy replica for a dead one); on SQLite
   * the storage itself, whose one connection is never waited for.
   */
  readonly probe: Queryable;
  /**
   * PostgreSQL only: calls `onNotify` for every NOTIFY on `channel` committed by any process
   * on the database, on a connection of its own, and once more each time that connection is
   * made again after it was lost (a listener that was away is not told what it missed, so it
   * reads it). Resolves, once listening, with the function that stops it. SQLite has one
   * process, whose writers can tell their readers directly.
   */
  listen?(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
  /** Waits for work already started, then releases the connections. */
  close(): Promise<void>;
}
