import type BetterSqlite3 from 'better-sqlite3';
import { raiseToFull } from './durable.js';
import { closeDatabase, type Db } from './open.js';
import type { Params, RunResult, Statement, Storage, Transaction, TransactionOptions } from './storage.js';


/**
 * A first-in first-out lock. The process shares one connection, so an open transaction is
 * the connection's state: a second transaction started while the first awaits would run its
 * statements inside the first one's, and a plain read would see its uncommitted writes.
 */
function createGate() {
  let tail: Promise<void> = Promise.resolve();
  let holdersAndWaiters = 0;
  return {
    get busy() {
      return holdersAndWaiters > 0;
    },
    async run<T>(work: () => Promise<T>): Promise<T> {
      holdersAndWaiters++;
      const previous = tail;
      let release!: () => void;
      tail = new Promise((resolve) => (release = resolve));
      try {
        await previous;
        return await work();
      } finally {
        holdersAndWaiters--;
        release();
      }
    },
  };
}

export const SPANNED_TURNS =
  'A SQLite transaction waited for something other than the database (a timer, a hash, the network): ' +
  'do that work before or after the transaction';

/**
 * Whether the event loop moved on since the watch began. SQLite answers synchronously, so a
 * transaction that awaits only the storage finishes within one turn; one that awaited other
 * I/O let the rest of the process (code that still uses the connection directly) run inside it
 * and write into it, and held the gate, and so every other transaction, while it waited.
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
 * together with the gate, transactions run one at a time, which is why `locks` need nothing
 * more here. `close()` waits for the work in flight and closes the database.
 */
export function createSqliteStorage(db: Db): Storage {
  const prepared = new WeakMap<Statement<Params, unknown>, BetterSqlite3.Statement>();
  const gate = createGate();
  let closed = false;

  function statementFor(statement: Statement<Params, unknown>): BetterSqlite3.Statement {
    let compiled = prepared.get(statement);
    if (compiled === undefined) {
      compiled = db.prepare(statement.sql);
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

  // Outside a transaction a query runs at once, unless one is open or waiting: then it queues behind it.
  const outside = (query: keyof typeof direct) => (statement: Statement<Params, unknown>, params?: unknown) =>
    gate.busy ? gate.run(() => direct[query](statement, params)) : direct[query](statement, params);

  function createTransaction(): Transaction & { end(): void } {
    let ended = false;
    let savepoints = 0;
    const inside = (query: keyof typeof direct) => (statement: Statement<Params, unknown>, params?: unknown) =>
      ended ? Promise.reject(new Error('The transaction has ended')) : direct[query](statement, params);
    const tx = {
      all: inside('all'),
      get: inside('get'),
      run: inside('run'),
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
    all: outside('all'),
    get: outside('get'),
    run: outside('run'),
    transaction<T>({ durable }: TransactionOptions, work: (tx: Transaction) => Promise<T>): Promise<T> {
      return gate.run(async () => {
        if (closed) throw new Error('The storage is closed');
        const restoreLevel = durable ? raiseToFull(db) : () => {};
        const tx = createTransaction();
        const turn = watchTurn();
        try {
          db.exec('BEGIN IMMEDIATE');
          const result = await work(tx);
          // Checked before COMMIT, so what the other code may have written in between is undone too.
          if (turn.ended()) throw new Error(SPANNED_TURNS);
          db.exec('COMMIT');
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
      await gate.run(async () => {
        closed = true;
        closeDatabase(db);
      });
    },
  } as Storage;
}

const storageByConnection = new WeakMap<Db, Storage>();

/**
 * The one port over a connection: every part of the process that reads through the port gets
 * the same instance, so there is one gate and transactions can never run two at a time.
 * Reads through it are safe next to code still using the connection directly: each runs at
 * once, as a statement of its own, exactly as the direct call would.
 */
export function sqliteStorageOf(db: Db): Storage {
  let storage = storageByConnection.get(db);
  if (storage === undefined) {
    storage = createSqliteStorage(db);
    storageByConnection.set(db, storage);
  }
  return storage;
}
