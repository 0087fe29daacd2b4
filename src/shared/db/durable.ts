import type { Db } from './open.js';

/** `PRAGMA synchronous` levels as SQLite reports them. */
const FULL = 2;

type Work = Parameters<Db['transaction']>[0];

/**
 * Runs `work` so that its commit reaches the disk before it returns: with WAL and
 * `synchronous = NORMAL` (the default) a commit survives a process crash but a power loss may
 * drop the last ones; FULL syncs the WAL on every commit, and that sync also covers every
 * earlier commit still in the WAL. SQLite refuses to change the level inside a transaction,
 * so inside one `work` simply joins it and the outermost caller decides.
 */
export function commitDurably<T>(db: Db, work: () => T): T {
  if (db.inTransaction) return work();
  const restore = raiseToFull(db);
  try {
    return work();
  } finally {
    restore();
  }
}

/**
 * Raises `synchronous` to FULL and returns what restores the level before. Outside a
 * transaction only (SQLite refuses the change inside one), so an asynchronous transaction
 * holds FULL from before BEGIN to after COMMIT.
 */
export function raiseToFull(db: Db): () => void {
  const level = db.pragma('synchronous', { simple: true }) as number;
  if (level >= FULL) return () => {};
  db.pragma('synchronous = FULL');
  return () => db.pragma(`synchronous = ${level}`);
}

/**
 * commitDurably for writes that must never commit without a sync (audit entries): inside a
 * transaction that will commit with NORMAL it throws, so a caller that forgot to make its
 * transaction durable fails in the tests instead of silently weakening the trail.
 */
export function writeDurably<T>(db: Db, work: () => T): T {
  if (db.inTransaction && (db.pragma('synchronous', { simple: true }) as number) < FULL) {
    throw new Error('A durable write inside a transaction that is not durable: use durableTransaction for it');
  }
  return commitDurably(db, work);
}

type Run<F extends Work> = (...args: Parameters<F>) => ReturnType<F>;
type Mode = 'deferred' | 'immediate' | 'exclusive';
export type DurableTransaction<F extends Work> = Run<F> & Record<Mode, Run<F>>;

/**
 * `db.transaction(work)` committed durably (see commitDurably), with the same `.deferred`,
 * `.immediate` and `.exclusive` variants. For credentials and audit entries: what a power loss
 * must not undo once the client was told it happened.
 */
export function durableTransaction<F extends Work>(db: Db, work: F): DurableTransaction<F> {
  const transaction = db.transaction(work) as unknown as Run<F> & Record<Mode, Run<F>>;
  const durably = (run: Run<F>): Run<F> => (...args) => commitDurably(db, () => run(...args));
  return Object.assign(durably(transaction), {
    deferred: durably(transaction.deferred),
    immediate: durably(transaction.immediate),
    exclusive: durably(transaction.exclusive),
  });
}
