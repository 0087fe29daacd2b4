import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext, BenchRow, Scenario } from './types.js';

/**
 * Threat Cloud scenarios, on the IoCs the runner seeds before the process starts
 * (`npm run bench -- threat-cloud --iocs=1000000`, the default for this scenario).
 */
const SEEDED_TARGET = 1_000_000;
const DURATION_SECONDS = 10;
const CONNECTIONS = 20;

const auth = (context: BenchContext) => ({ authorization: `Bearer ${context.secrets.tcApiKey}` });

/** 11.0.0.0/8 holds the seeded IPs (see src/threat-cloud/seed.ts). */
const seededIp = (index: number) => {
  const n = 0x0b000000 + index;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
};

async function activeIocs(context: BenchContext): Promise<number> {
  const res = await fetch(`${context.urls.threatCloud}/health`);
  const body = (await res.json()) as { data?: { iocs?: number } };
  return body.data?.iocs ?? 0;
}

async function lookup(context: BenchContext, loaded: number): Promise<BenchRow> {
  const value = seededIp(Math.floor(Math.max(1, loaded) * 0.37));
  const result = await context.load({ url: `${context.urls.threatCloud}/api/iocs/${value}`, headers: auth(context), connections: CONNECTIONS, durationSeconds: DURATION_SECONDS });
  const base = await context.baseline(context.urls.threatCloud.startsWith('https'), { connections: CONNECTIONS, durationSeconds: DURATION_SECONDS });
  const ratio = result.perSecond / base.perSecond;
  return {
    scenario: `threat-cloud: GET /api/iocs/:value (${loaded.toLocaleString('en')} IoCs)`,
    perSecond: result.perSecond,
    unit: 'req/s',
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    ratio,
    target: '>= 0.4 of bare Fastify, p99 < 10 ms',
    met: ratio >= 0.4 && result.p99Ms < 10 && result.non2xx === 0,
    note: `baseline ${Math.round(base.perSecond)} req/s; errors ${result.errors}, non-2xx ${result.non2xx}`,
  };
}

async function upload(context: BenchContext): Promise<BenchRow> {
  let counter = 0;
  // Fresh public addresses from 12.0.0.0/8 so every batch creates new IoCs.
  const bodies = () => {
    const threats = Array.from({ length: 100 }, () => {
      counter += 1;
      const n = 0x0c000000 + counter;
      return { type: 'ip', value: `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`, source: 'bench', severity: 'high', confidence: 0.8 };
    });
    return JSON.stringify({ threats });
  };
  const result = await context.load({
    url: `${context.urls.threatCloud}/api/threats`,
    method: 'POST',
    headers: { ...auth(context), 'content-type': 'application/json' },
    bodies,
    connections: 4,
    durationSeconds: DURATION_SECONDS,
  });
  return {
    scenario: 'threat-cloud: POST /api/threats, 100-item batches',
    perSecond: result.perSecond * 100,
    unit: 'iocs/s',
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    note: `${Math.round(result.perSecond)} batches/s; errors ${result.errors}, non-2xx ${result.non2xx}`,
  };
}

async function blocklistDownload(context: BenchContext): Promise<BenchRow[]> {
  const before = context.rssMiB();
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, context.rssMiB());
  }, 20);
  const started = performance.now();
  let bytes = 0;
  let lines = 0;
  try {
    const res = await fetch(`${context.urls.threatCloud}/api/feeds/ip-blocklist?maxReputation=100`, { headers: auth(context) });
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      for (const byte of value) if (byte === 10) lines += 1;
    }
  } finally {
    clearInterval(sampler);
  }
  const ms = performance.now() - started;
  const growth = Math.max(0, peak - before);
  return [
    {
      scenario: 'threat-cloud: full ip-blocklist download',
      perSecond: ms,
      unit: 'ms',
      note: `${lines - 3} IPs, ${(bytes / 2 ** 20).toFixed(1)} MiB`,
    },
    {
      scenario: 'threat-cloud: peak RSS growth during ip-blocklist download',
      perSecond: growth,
      unit: 'MiB',
      target: '< 64 MiB',
      met: growth < 64,
    },
  ];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * A second process on the same data folder: time from spawn to the Threat Cloud answering
 * /health. It lists the same bootstrap key: a start-up without it would revoke the key (as
 * TC_API_KEYS promises) under the scenarios that run after this one.
 */
async function startup(context: BenchContext): Promise<BenchRow> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const [auth, manager, tc] = [await freePort(), await freePort(), await freePort()];
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(root, 'dist', 'main.js')], {
    cwd: root,
    env: { ...process.env, DATA_DIR: context.dataDir, DATABASE_PATH: context.databasePath, MANAGER_TLS_CERT: path.join(context.dataDir, 'certs', 'manager.crt'), MANAGER_TLS_KEY: path.join(context.dataDir, 'certs', 'manager.key'), AUTH_PORT: String(auth), MANAGER_PORT: String(manager), TC_PORT: String(tc), HOST: '127.0.0.1', LOG_LEVEL: 'error', TC_API_KEYS: context.secrets.tcApiKey },
    stdio: 'ignore',
  });
  let ms = Number.NaN;
  try {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${tc}/health`);
        if (res.ok) {
          ms = performance.now() - started;
          break;
        }
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    child.kill('SIGTERM');
  }
  return {
    scenario: 'threat-cloud: start-up to listening (same database)',
    perSecond: ms,
    unit: 'ms',
    target: '< 2000 ms',
    met: ms < 2000,
    note: 'includes Node start and the other two services',
  };
}

export const threatCloudScenario: Scenario = async (context) => {
  const loaded = await activeIocs(context);
  const rows: BenchRow[] = [];
  rows.push(await lookup(context, loaded));
  rows.push(...(await blocklistDownload(context)));
  rows.push(await startup(context));
  rows.push(await upload(context));
  if (loaded < SEEDED_TARGET) {
    for (const row of rows) row.note = `${row.note ? `${row.note}; ` : ''}only ${loaded} active IoCs loaded (run with --iocs=1000000)`;
  }
  return rows;
};

export default threatCloudScenario;
