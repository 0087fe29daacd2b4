import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from './open.js';

/** What SQLite does on its own when nobody checkpoints (pages of WAL before a commit copies them back). */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;
const DEFAULT_INTERVAL_MS = 1000;

/**
 * The worker's whole program. It is evaluated as CommonJS, so it gets better-sqlite3's resolved
 * path rather than resolving the package from wherever the process was started.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const step = () => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, busy: row.busy, log: row.log, checkpointed: row.checkpointed });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: String(error && error.message) });
  }
};
const timer = setInterval(step, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** Errors thrown in a worker arrive as plain clones (a SqliteError keeps only its `code`). */
function asError(failure: unknown): Error {
  if (failure instanceof Error) return failure;
  const code = (failure as { code?: unknown } | null)?.code;
  return new Error(typeof code === 'string' ? `checkpoint worker failed: ${code}` : `checkpoint worker failed: ${String(failure)}`);
}

export interface CheckpointReport {
  ok: boolean;
  busy?: number;
  /** WAL frames at the time of the checkpoint, and how many of them are now in the main file. */
  log?: number;
  checkpointed?: number;
  message?: string;
}

export interface Checkpointer {
  /** Resolves once the worker has closed its connection; the caller's own connection is untouched. */
  stop(): Promise<void>;
  /** Called after each checkpoint the worker ran (tests and metrics). */
  onReport(listener: (report: CheckpointReport) => void): void;
}

export interface CheckpointerOptions {
  intervalMs?: number;
  /** Told when the worker fails: checkpoints fall back to SQLite's own, on commits. */
  onFailure?: (error: Error) => void;
}

/**
 * Moves WAL checkpoints off the event loop. By default SQLite checkpoints inside whichever
 * commit pushes the WAL past 1,000 pages, which copies up to 4 MiB back and syncs the main file
 * on the caller's thread: a request or a background job slice that happened to commit then
 * waited 35–140 ms (measured at a million IoCs). Here the serving connection never checkpoints;
 * a second connection on a worker thread runs a PASSIVE checkpoint every second, which copies
 * what no reader still needs and never blocks the writer. If the worker dies, the serving
 * connection checkpoints on its own again, so the WAL can never grow without bound.
 */
export function startCheckpointer(db: Db, options: CheckpointerOptions = {}): Checkpointer {
  const listeners: Array<(report: CheckpointReport) => void> = [];
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      file: db.name,
      driver: createRequire(import.meta.url).resolve('better-sqlite3'),
      intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS,
    },
  });
  worker.unref();
  db.pragma('wal_autocheckpoint = 0');

  let stopping = false;
  const fallBack = (failure: unknown) => {
    if (stopping) return;
    stopping = true;
    if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
    options.onFailure?.(asError(failure));
  };
  worker.on('message', (report: CheckpointReport) => {
    for (const listener of listeners) listener(report);
  });
  worker.on('error', fallBack);
  worker.on('exit', (code) => {
    if (!stopping) fallBack(new Error(`checkpoint worker exited with code ${code}`));
  });

  return {
    onReport(listener) {
      listeners.push(listener);
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      // Unref'd, the worker would not keep a process that has nothing else left alive until it exits.
      worker.ref();
      worker.postMessage('stop');
      await exited;
      if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
    },
  };
}
