import { randomBytes, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Password hashing with scrypt (memory-hard, OWASP: N=2^17, r=8, p=1), on worker threads, so
 * the event loop is never blocked. Stored form names the algorithm and its parameters, so the
 * cost can be raised later: `scrypt$ln=17,r=8,p=1$<salt base64>$<key base64>`.
 */
const KEY_LENGTH = 64;
const SALT_LENGTH = 16;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
/**
 * Nice value of the hashing threads (Linux sets it per thread). A login storm keeps every
 * hashing thread busy for hundreds of milliseconds per hash; at the same priority they take
 * turns on the CPU with the event loop, which then answers late (measured: /health p99 under
 * 20 concurrent N=2^17 logins fell from about 40 ms to about 25 ms on a busy 2-core machine).
 * Lower-priority hashing yields whenever the event loop has work, and uses the CPU otherwise.
 */
const HASHING_NICE = 10;

interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

/**
 * A hashing thread's whole program, evaluated as CommonJS. It is not node's async `scrypt`:
 * that runs on libuv's pool of 4 threads, which file and DNS work shares, and whose threads
 * keep the event loop's priority.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { scryptSync } = require('node:crypto');
const { readlinkSync } = require('node:fs');
const { setPriority } = require('node:os');
try {
  // /proc/thread-self names this thread's id; Linux applies a thread id's priority to that thread only.
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), workerData.nice);
} catch {
  // Elsewhere the priority is per process: leave it alone.
}
parentPort.on('message', ({ password, salt, keyLength, options }) => {
  try {
    parentPort.postMessage({ key: new Uint8Array(scryptSync(password, salt, keyLength, options)) });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message) });
  }
});
`;

interface HashJob {
  password: string;
  salt: Uint8Array;
  keyLength: number;
  options: ScryptOptions;
}

/**
 * The process's hashing threads, started on the first hash (not at start-up) and kept for the
 * next ones. Each runs one hash at a time; the hashers' limiters decide how many run at once.
 * A thread keeps the process alive only while it hashes (the CLI waits for its hash, a server
 * shutting down does not wait for idle threads).
 */
function createHashThreads() {
  const idle: Worker[] = [];
  const waiting: Array<(worker: Worker) => void> = [];
  let started = 0;

  const start = (): Worker => {
    // No loaders or profiler flags of the parent: the thread runs the plain script above.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { nice: HASHING_NICE } });
    started += 1;
    // A failure reaches the waiting hash through its own listener; the thread is then gone.
    worker.on('error', () => undefined);
    worker.once('exit', () => {
      started -= 1;
      const index = idle.indexOf(worker);
      if (index >= 0) idle.splice(index, 1);
      // A hash waiting for this thread gets a new one.
      const next = waiting.shift();
      if (next) next(start());
    });
    worker.unref();
    return worker;
  };

  const release = (worker: Worker) => {
    worker.unref();
    const next = waiting.shift();
    if (next) next(worker);
    else idle.push(worker);
  };

  /** One hash on an idle thread, a new one while fewer than `limit` run, else the next one freed. */
  return async function run(job: HashJob, limit: number): Promise<Buffer> {
    const worker =
      idle.pop() ?? (started < limit ? start() : await new Promise<Worker>((resolve) => waiting.push(resolve)));
    worker.ref();
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const onMessage = (reply: { key?: Uint8Array; error?: string }) => {
          cleanUp();
          if (reply.key) resolve(Buffer.from(reply.key.buffer, reply.key.byteOffset, reply.key.byteLength));
          else reject(new Error(reply.error ?? 'scrypt failed'));
        };
        const onExit = (code: number) => {
          cleanUp();
          reject(new Error(`hashing thread exited with code ${code}`));
        };
        const cleanUp = () => {
          worker.off('message', onMessage);
          worker.off('exit', onExit);
          worker.off('error', reject);
        };
        worker.once('message', onMessage);
        worker.once('exit', onExit);
        worker.once('error', reject);
        worker.postMessage(job);
      });
    } finally {
      // A thread that died is replaced on demand (see start).
      if (worker.threadId >= 0) release(worker);
    }
  };
}

let hashThreads: ReturnType<typeof createHashThreads> | null = null;

function deriveKey(password: string, salt: Buffer, params: ScryptParams, keyLength: number, threads: number): Promise<Buffer> {
  const N = 2 ** params.logN;
  // scrypt needs 128·N·r bytes; node refuses anything above maxmem (32 MiB by default).
  const maxmem = 128 * N * params.r * params.p + 32 * 1024 * 1024;
  hashThreads ??= createHashThreads();
  // The salt is copied, not sent as a view: a small Buffer can share node's pool with other data.
  return hashThreads({ password: password.normalize('NFC'), salt: new Uint8Array(salt), keyLength, options: { N, r: params.r, p: params.p, maxmem } }, threads);
}

function parse(stored: string): (ScryptParams & { salt: Buffer; key: Buffer }) | null {
  const match = /^scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!match) return null;
  const [, logN, r, p, salt, key] = match;
  return { logN: Number(logN), r: Number(r), p: Number(p), salt: Buffer.from(salt!, 'base64'), key: Buffer.from(key!, 'base64') };
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Whether the password matches; a malformed stored hash never matches. */
  verify(password: string, stored: string): Promise<boolean>;
  /** Runs one verification against a throwaway hash: unknown accounts cost the same time. */
  burn(password: string): Promise<void>;
  /** Whether a stored hash was made with other parameters than the current ones. */
  needsRehash(stored: string): boolean;
}

/**
 * At most `limit` tasks at once; the rest wait in order. Hashes are CPU-bound: one per core
 * would leave the event loop no core of its own.
 */
function createLimiter(limit: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await task();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}

/** One core stays free for the event loop: hashing uses the others (at least one). */
export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}

export function createPasswordHasher(logN: number, concurrency = defaultHashConcurrency()): PasswordHasher {
  const current: ScryptParams = { logN, r: BLOCK_SIZE, p: PARALLELISM };
  const limited = createLimiter(concurrency);
  const derive = (password: string, salt: Buffer, params: ScryptParams, keyLength: number) =>
    limited(() => deriveKey(password, salt, params, keyLength, concurrency));
  const encode = (salt: Buffer, key: Buffer) =>
    `scrypt$ln=${current.logN},r=${current.r},p=${current.p}$${salt.toString('base64')}$${key.toString('base64')}`;
  const dummySalt = randomBytes(SALT_LENGTH);

  return {
    async hash(password) {
      const salt = randomBytes(SALT_LENGTH);
      return encode(salt, await derive(password, salt, current, KEY_LENGTH));
    },
    async verify(password, stored) {
      const parsed = parse(stored);
      if (!parsed || parsed.logN < 10 || parsed.logN > 22 || parsed.key.length === 0) {
        await derive(password, dummySalt, current, KEY_LENGTH);
        return false;
      }
      const key = await derive(password, parsed.salt, parsed, parsed.key.length);
      return timingSafeEqual(key, parsed.key);
    },
    async burn(password) {
      await derive(password, dummySalt, current, KEY_LENGTH);
    },
    needsRehash(stored) {
      const parsed = parse(stored);
      return !parsed || parsed.logN !== current.logN || parsed.r !== current.r || parsed.p !== current.p || parsed.key.length !== KEY_LENGTH;
    },
  };
}
