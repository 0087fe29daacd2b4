import type BetterSqlite3 from 'better-sqlite3';
import { raiseToFull } from './durable.js';
import { closeDatabase, type Db } from './open.js';
import type { Params, Queryable, RunResult, Statement, Storage, Transaction, TransactionOptions } from './storage.js';
import { endAllTurnSnapshots, endTurnSnapshot, joinTurnSnapshot } from './turn-snapshot.js';


/**
 * Runs transactions one at a time, each at the start of an event-loop turn of its own
 * (a `setImmediate` callback). The process shares one connection, so an open transaction is
 * the connection's state: any statement that runs while it is open joins it. Other requests
 * only run in other turns, or as continuations already waiting in the same turn; a turn that
 * begins with a transaction has none waiting, so between its BEGIN and COMMIT only the
 * transaction's own continuations run — code that still uses the connection directly can
 * neither write into it nor read its uncommitted rows, and a rollback never undoes their work.
 */
function createTurnScheduler() {
  const waiting: Array<() => Promise<unknown>> = [];
  let running: Promise<unknown> | null = null;

  function runNext(): void {
    const next = waiting.shift();
    if (next === undefined) return;
    // Only reachable when a transaction outlived its turn (it is rolled back): the next one waits for its end.
    if (running !== null) {
      waiting.unshift(next);
      return;
    }
    const current = next().finally(() => {
      running = null;
      if (waiting.length > 0) setImmediate(runNext);
    });
    running = current;
  }

  return {
    /** Settles once the transaction now running (if any) has ended. */
    afterCurrent(): Promise<unknown> | null {
      return running === null ? null : running.then(noop, noop);
    },
    schedule<T>(work: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        waiting.push(() => work().then(resolve, reject));
        setImmediate(runNext);
      });
    },
  };
}

function noop(): void {}

export const SPANNED_TURNS =
  'A SQLite transaction waited for something other than the database (a timer, a hash, the network): ' +
  'do that work before or after the transaction';

/**
 * Whether the event loop moved on since the watch began. SQLite answers synchronously, so a
 * transaction that awaits only the storage finishes within one turn; one that awaited other
 * I/O let the rest of the process (code that still uses the connection directly) run inside it
 * and write into it, and held up every other transaction while it waited.
 */
function watchTurn(): { ended(): boolean; stop(): void } {
  let ended = false;
  const probe = setImmediate(() => {
    ended = true;
  });
  return { ended: () => ended, stop: () => clearImmediate(probe) };
}

function bound(params: unknown): unknown[] {
  if (params === undefined) return [];
  return Array.isArray(params) ? params : [params];
}

/**
 * The storage port over the process's better-sqlite3 connection. Every write transaction
 * starts with BEGIN IMMEDIATE, so it holds SQLite's one write lock from its first statement:
 * with the turn scheduler, transactions run one at a time, which is why `locks` need nothing
 * more here. `close()` waits for the work in flight and closes the database.
 */
export function createSqliteStorage(db: Db): Storage {
  const prepared = new WeakMap<Statement<Params, unknown>, BetterSqlite3.Statement>();
  const turns = createTurnScheduler();
  let closed = false;

  function statementFor(statement: Statement<Params, unknown>): BetterSqlite3.Statement {
    let compiled = prepared.get(statement);
    if (compiled === undefined) {
      compiled = db.prepare(statement.sql);
      if (statement.asArrays) compiled.raw(true);
      prepared.set(statement, compiled);
    }
    return compiled;
  }

  // better-sqlite3 answers synchronously; a failure must still arrive as a rejection, never a throw.
  function settle<T>(answer: () => T): Promise<T> {
    try {
      if (closed) throw new Error('The storage is closed');
      return Promise.resolve(answer());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  const direct = {
    all: (statement: Statement<Params, unknown>, params: unknown) => settle(() => statementFor(statement).all(...bound(params))),
    get: (statement: Statement<Params, unknown>, params: unknown) => settle(() => statementFor(statement).get(...bound(params))),
    run: (statement: Statement<Params, unknown>, params: unknown) =>
      settle((): RunResult => ({ changes: statementFor(statement).run(...bound(params)).changes })),
  };

  // Outside a transaction, a read joins the turn's snapshot (turn-snapshot.ts); a write, or a
  // read that writes (`UPDATE … RETURNING`), ends it first, commits on its own and is seen by
  // every later read of the process.
  function alone(query: keyof typeof direct, statement: Statement<Params, unknown>, params: unknown) {
    if (closed) return direct[query](statement, params);
    let writes: boolean;
    try {
      writes = query === 'run' || !statementFor(statement).readonly;
      if (writes) endTurnSnapshot(db);
      else joinTurnSnapshot(db);
    } catch (error) {
      // A closed connection or bad SQL: a rejection like every other failure, never a throw.
      return Promise.reject(error);
    }
    const result = direct[query](statement, params);
    if (writes) endAllTurnSnapshots();
    return result;
  }

  // A query outside a transaction runs at once. One called while a transaction is open can only
  // come from that transaction's own continuations (or one that outlived its turn): it waits
  // for the end, so it never sees uncommitted rows.
  const outside = (query: keyof typeof direct) => (statement: Statement<Params, unknown>, params?: unknown) => {
    const current = turns.afterCurrent();
    return current === null ? alone(query, statement, params) : current.then(() => alone(query, statement, params));
  };

  const outsideReads = { all: outside('all'), get: outside('get'), run: outside('run') } as Queryable;

  function createTransaction(durable: boolean): Transaction & { end(): void } {
    let ended = false;
    let savepoints = 0;
    const inside = (query: keyof typeof direct) => (statement: Statement<Params, unknown>, params?: unknown) =>
      ended ? Promise.reject(new Error('The transaction has ended')) : direct[query](statement, params);
    const run = (statement: Statement<Params, unknown>, params?: unknown): Promise<RunResult> =>
      ended ? Promise.reject(new Error('The transaction has ended')) : direct.run(statement, params);
    const tx = {
      durable,
      all: inside('all'),
      get: inside('get'),
      run,
      async runBatch(statement: Statement<Params, unknown>, rows: readonly unknown[]): Promise<RunResult> {
        let changes = 0;
        for (const row of rows) changes += (await run(statement, row)).changes;
        return { changes };
      },
      async savepoint<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
        if (ended) throw new Error('The transaction has ended');
        const name = `nested_${++savepoints}`;
        db.exec(`SAVEPOINT ${name}`);
        try {
          const result = await work(tx as Transaction);
          db.exec(`RELEASE ${name}`);
          return result;
        } catch (error) {
          db.exec(`ROLLBACK TO ${name}`);
          db.exec(`RELEASE ${name}`);
          throw error;
        }
      },
      end: () => {
        ended = true;
      },
    };
    return tx as Transaction & { end(): void };
  }

  return {
    engine: 'sqlite',
    get open() {
      return !closed && db.open;
    },
    ...outsideReads,
    probe: outsideReads,
    snapshot<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
      return work(outsideReads);
    },
    transaction<T>({ durable }: TransactionOptions, work: (tx: Transaction) => Promise<T>): Promise<T> {
      return turns.schedule(async () => {
        if (closed) throw new Error('The storage is closed');
        endTurnSnapshot(db);
        const restoreLevel = durable ? raiseToFull(db) : () => {};
        const tx = createTransaction(durable);
        const turn = watchTurn();
        try {
          db.exec('BEGIN IMMEDIATE');
          const result = await work(tx);
          // Checked before COMMIT, so what the other code may have written in between is undone too.
          if (turn.ended()) throw new Error(SPANNED_TURNS);
          db.exec('COMMIT');
          endAllTurnSnapshots();
          return result;
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw error;
        } finally {
          turn.stop();
          tx.end();
          restoreLevel();
        }
      });
    },
    async close() {
      await turns.schedule(async () => {
        closed = true;
        closeDatabase(db);
      });
    },
  } as Storage;
}

const storageByConnection = new WeakMap<Db, Storage>();

/**
 * The one port over a connection: every part of the process that reads through the port gets
 * the same instance, so there is one scheduler and transactions can never run two at a time.
 * The port is safe next to code still using the connection directly: a read runs at once, as
 * a statement of its own, and a transaction has an event-loop turn to itself (see
 * createTurnScheduler), so stores can move to the port one at a time.
 */
export function sqliteStorageOf(db: Db): Storage {
  let storage = storageByConnection.get(db);
  if (storage === undefined) {
    storage = createSqliteStorage(db);
    storageByConnection.set(db, storage);
  }
  return storage;
}
