import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';

/**
 * Password hashing with scrypt (memory-hard, OWASP: N=2^17, r=8, p=1). node's async
 * `crypto.scrypt` runs on the libuv thread pool, so the event loop is never blocked.
 * Stored form names the algorithm and its parameters, so the cost can be raised later:
 * `scrypt$ln=17,r=8,p=1$<salt base64>$<key base64>`.
 */
const KEY_LENGTH = 64;
const SALT_LENGTH = 16;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;

interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

function deriveKey(password: string, salt: Buffer, params: ScryptParams, keyLength: number): Promise<Buffer> {
  const N = 2 ** params.logN;
  // scrypt needs 128·N·r bytes; node refuses anything above maxmem (32 MiB by default).
  const maxmem = 128 * N * params.r * params.p + 32 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyLength, { N, r: params.r, p: params.p, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
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
 * At most `limit` tasks at once; the rest wait in order. Hashes are CPU-bound: running as
 * many as the thread pool allows would starve the event loop's own core.
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
    limited(() => deriveKey(password, salt, params, keyLength));
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
