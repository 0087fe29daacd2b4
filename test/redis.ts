import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Teardown } from './helper.js';
import { freePort } from './process.js';

/** Debian's `redis-server` package; REDIS_SERVER points elsewhere. */
const SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const READY_TIMEOUT_MS = 15_000;

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL: as a crashed or unreachable Redis looks to its clients). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (nothing is persisted). */
  start(): Promise<void>;
}

/** Whether a PING on a fresh connection is answered: the server accepts commands. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

/**
 * A throw-away Redis 7 on 127.0.0.1 in a temp folder, without persistence, stopped (and the
 * folder removed) at teardown.
 */
export async function startRedis(t: Teardown): Promise<RedisServer> {
  if (!existsSync(SERVER)) {
    throw new Error(`redis-server not found at ${SERVER}: install Debian's package (apt-get install redis-server) or set REDIS_SERVER`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'panguard-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;

  const kill = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };
  const start = async () => {
    const started = spawn(SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: 'ignore',
    });
    child = started;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await answersPing(port))) {
      if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode} before it answered`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within ${READY_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const killNow = () => child?.kill('SIGKILL');
  // A test process that dies on an uncaught error still takes its server down.
  process.once('exit', killNow);
  t.teardown(async () => {
    process.removeListener('exit', killNow);
    await kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop: kill, start };
}
