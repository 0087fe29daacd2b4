import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureSelfSignedCertificate } from '../src/shared/certificate.js';
import type { Teardown } from './helper.js';

const run = promisify(execFile);

/** Debian's `haproxy` package; HAPROXY points elsewhere. */
const HAPROXY = process.env.HAPROXY ?? '/usr/sbin/haproxy';
const READY_TIMEOUT_MS = 15_000;

export interface Haproxy {
  /** What HAProxy printed (its alerts, and the traffic log when the config logs to stdout). */
  output(): string;
  /** Kills it (SIGKILL). */
  stop(): Promise<void>;
}

function assertInstalled(): void {
  if (!existsSync(HAPROXY)) {
    throw new Error(`haproxy not found at ${HAPROXY}: install Debian's package (apt-get install haproxy) or set HAPROXY`);
  }
}

/** Whether something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => done(true));
  });
}

/**
 * HAProxy in the foreground (`-db`) on a configuration file, with exactly the given
 * environment (what the file's "${VAR}" expand to); resolves once every port of `ports`
 * accepts connections, and is killed at teardown (and if the test process exits first).
 */
export async function startHaproxy(t: Teardown, options: { configFile: string; env: Record<string, string>; ports: number[] }): Promise<Haproxy> {
  assertInstalled();
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', options.configFile], {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  const killNow = () => child.kill('SIGKILL');
  // A test process that dies on an uncaught error still takes HAProxy down.
  process.once('exit', killNow);
  t.teardown(async () => {
    process.removeListener('exit', killNow);
    await stop();
  });

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (const port of options.ports) {
    while (!(await accepts(port))) {
      if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode} before it listened:\n${output}`);
      if (Date.now() > deadline) throw new Error(`haproxy did not listen on port ${port} within ${READY_TIMEOUT_MS} ms:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { output: () => output, stop };
}

/** `haproxy -c`: whether the file is valid with this environment, and what HAProxy said. */
export async function checkHaproxyConfig(configFile: string, env: Record<string, string>): Promise<{ valid: boolean; output: string }> {
  assertInstalled();
  try {
    const { stdout, stderr } = await run(HAPROXY, ['-c', '-f', configFile], { env: { PATH: process.env.PATH ?? '', ...env } });
    return { valid: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: number };
    if (typeof failed.code !== 'number') throw error;
    return { valid: false, output: (failed.stdout ?? '') + (failed.stderr ?? '') };
  }
}

/** One command on HAProxy's runtime API (the `stats socket`), e.g. `show stat`; resolves with the answer. */
export function haproxyCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath });
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to "${command}" on ${socketPath}`)));
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.once('error', reject);
    // Without "prompt" mode the socket answers one command and closes.
    socket.once('end', () => resolve(answer));
    socket.once('connect', () => socket.end(`${command}\n`));
  });
}

/** One row of `show stat` per proxy and server: `pxname`, `svname`, `status`, `hrsp_2xx`, `wredis`, … */
export type StatRow = Record<string, string>;

/** `show stat` parsed from its CSV (the header line starts with "# "). */
export async function haproxyStats(socketPath: string): Promise<StatRow[]> {
  const lines = (await haproxyCommand(socketPath, 'show stat')).split('\n').filter((line) => line.trim() !== '');
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(header.map((name, i) => [name, cells[i] ?? '']));
  });
}

/**
 * A self-signed certificate for localhost and 127.0.0.1 made by the server's own helper, and
 * the PEM file HAProxy's `ssl crt` reads (certificate then key, concatenated). `cert` is what
 * a client trusts as its CA.
 */
export async function writeSelfSignedPem(dir: string): Promise<{ pemFile: string; cert: Buffer }> {
  const certFile = path.join(dir, 'balancer.crt');
  const keyFile = path.join(dir, 'balancer.key');
  await ensureSelfSignedCertificate(certFile, keyFile);
  const pemFile = path.join(dir, 'balancer.pem');
  const cert = readFileSync(certFile);
  // One block per line: a certificate without its final newline would run into the key.
  const blocks = [cert, readFileSync(keyFile)].map((pem) => `${pem.toString('utf8').trimEnd()}\n`);
  writeFileSync(pemFile, blocks.join(''), { mode: 0o600 });
  return { pemFile, cert };
}
