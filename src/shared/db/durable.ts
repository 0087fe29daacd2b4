import type { Db } from './open.js';
import type { Transaction } from './storage.js';

/** `PRAGMA synchronous` levels as SQLite reports them. */
const FULL = 2;

/**
 * Raises `synchronous` to FULL and returns what restores the level before: with WAL and
 * `synchronous = NORMAL` (the default) a commit survives a process crash but a power loss may
 * drop the last ones; FULL syncs the WAL on every commit, and that sync also covers every
 * earlier commit still in the WAL. Outside a transaction only (SQLite refuses the change
 * inside one), so a durable port transaction holds FULL from before BEGIN to after COMMIT.
 */
export function raiseToFull(db: Db): () => void {
  const level = db.pragma('synchronous', { simple: true }) as number;
  if (level >= FULL) return () => {};
  db.pragma('synchronous = FULL');
  return () => db.pragma(`synchronous = ${level}`);
}

/**
 * For writes that must never commit without a sync (audit entries): in a transaction that
 * will commit without one it throws, so a caller that forgot `durable: true` fails in the
 * tests instead of silently weakening the trail.
 */
export function requireDurable(tx: Transaction): void {
  if (!tx.durable) throw new Error('An audit entry inside a transaction that is not durable: open it with durable: true');
}
