import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MAIN_JS = path.join(REPO_ROOT, 'dist', 'main.js');
/** First line of what `src/main.ts` prints once every server listens. */
const STARTED_BANNER = 'Panguard API server is running';

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One real HTTP(S) request; HTTPS trusts exactly the given CA (the Manager's own cert). */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string | Buffer; timeoutMs?: number; localAddress?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(
      target,
      {
        method: options.method ?? 'GET',
        headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...options.headers },
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        timeout: options.timeoutMs ?? 5000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on('error', reject);
    if (options.body) req.write(options.body);
    req.end();
  });
}

export interface ServerProcess {
  child: ChildProcess;
  ports: { auth: number; manager: number; threatCloud: number };
  urls: { auth: string; manager: string; threatCloud: string };
  dataDir: string;
  certFile: string;
  output(): string;
  /**
   * Resolves when all three /health endpoints answer 200 (Manager over verified TLS). It first
   * waits for the start-up banner (all three servers listening; rejects at once if the process
   * exits first): start-up is CPU-bound, so on a loaded machine it takes as long as the machine
   * needs, and `timeoutMs` then measures only a started process's answer.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Resolves when the process exits by itself (killed after the timeout). */
  waitExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal and resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  managerCa(): Buffer;
}

/** Starts `node dist/main.js` (what `npm start` runs) on free ports with a given data folder. */
export async function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const ports = { auth: await freePort(), manager: await freePort(), threatCloud: await freePort() };
  const certFile = path.join(dataDir, 'certs', 'manager.crt');
  const child = spawn(process.execPath, [MAIN_JS], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      AUTH_PORT: String(ports.auth),
      MANAGER_PORT: String(ports.manager),
      TC_PORT: String(ports.threatCloud),
      DATA_DIR: dataDir,
      MANAGER_TLS_CERT: certFile,
      MANAGER_TLS_KEY: path.join(dataDir, 'certs', 'manager.key'),
      AUTH_SCRYPT_LOG_N: '14',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const started = new Promise<void>((resolve, reject) => {
    // Registered after the listener above, so `output` already holds this chunk.
    const onStdout = () => {
      if (!output.includes(STARTED_BANNER)) return;
      child.stdout!.off('data', onStdout);
      resolve();
    };
    child.stdout!.on('data', onStdout);
    void exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before it was listening:\n${output}`)));
  });
  // Nobody may be waiting for it (a test that never asks for health).
  started.catch(() => undefined);
  /** The banner, or an error if the process stays alive this long without listening. */
  const untilStarted = async (timeoutMs = 180_000) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`server not listening after ${timeoutMs} ms:\n${output}`)), timeoutMs);
    });
    try {
      await Promise.race([started, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  const managerTls = env.MANAGER_TLS !== 'false';
  const urls = {
    auth: `http://127.0.0.1:${ports.auth}`,
    manager: `${managerTls ? 'https' : 'http'}://localhost:${ports.manager}`,
    threatCloud: `http://127.0.0.1:${ports.threatCloud}`,
  };
  const managerCa = () => readFileSync(certFile);
  return {
    child,
    ports,
    urls,
    dataDir,
    certFile,
    output: () => output,
    managerCa,
    async waitHealthy(timeoutMs = 20_000) {
      await untilStarted();
      const deadline = Date.now() + timeoutMs;
      let lastError: unknown;
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`);
        try {
          const ca = managerTls ? managerCa() : undefined;
          const results = await Promise.all([
            request(`${urls.auth}/health`),
            request(`${urls.manager}/health`, ca ? { ca } : {}),
            request(`${urls.threatCloud}/health`),
          ]);
          if (results.every((r) => r.status === 200)) return;
          lastError = new Error(`health answered ${results.map((r) => r.status).join(', ')}`);
        } catch (error) {
          lastError = error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`server not healthy after ${timeoutMs} ms: ${String(lastError)}\n${output}`);
    },
    async waitExit(timeoutMs = 15_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      const started = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, ms: Date.now() - started };
    },
  };
}

const SMOKE_JS = path.join(REPO_ROOT, 'dist', 'smoke', 'main.js');

export interface SmokeRun {
  code: number | null;
  lines: string[];
  stderr: string;
}

/** `npm run smoke` as an operator runs it (after the build), with only the given environment. */
export function runSmoke(args: string[], env: Record<string, string> = {}): Promise<SmokeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SMOKE_JS, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, lines: stdout.split('\n').filter(Boolean), stderr }));
  });
}
