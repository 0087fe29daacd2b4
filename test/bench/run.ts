import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { ensureSelfSignedCertificate } from '../../src/shared/certificate.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase } from '../../src/shared/db/open.js';
import { seedIocs } from '../../src/threat-cloud/seed.js';
import { freePort, REPO_ROOT, startServerProcess, type ServerProcess } from '../process.js';
import { authScenario } from './auth.js';
import { intelScenario } from './intel.js';
import { kernelScenario } from './kernel.js';
import { managerScenario } from './manager.js';
import { postgresScenario } from './postgres.js';
import { stallScenario } from './stall.js';
import { threatCloudScenario } from './threat-cloud.js';
import type { BenchContext, BenchRow, Comparison, LoadOptions, LoadResult, Scenario } from './types.js';

/**
 * Scenarios in run order; `npm run bench -- <name> …` runs only those named. The Threat Cloud
 * runs before the Manager: measured after the Manager's scenario (1,000 agents, 100,000
 * events), the lookup rounds fell from 0.38–0.40 to 0.27 within the comparison, on a server
 * that had been quiet when it began; the same comparison run first holds 0.32–0.37.
 */
const SCENARIOS: Record<string, Scenario> = {
  kernel: kernelScenario,
  'threat-cloud': threatCloudScenario,
  manager: managerScenario,
  auth: authScenario,
  intel: intelScenario,
  stall: stallScenario,
  postgres: postgresScenario,
};

const BENCH_API_KEY = `pgk_bench_${'b'.repeat(36)}`;
/** Limits raised so the benchmark measures the server, not the rate limiter. */
export const BENCH_ENV = {
  RATE_LIMIT_SCALE: '1000000',
  TC_API_KEYS: BENCH_API_KEY,
  TC_TIER_LIMITS: JSON.stringify({ enterprise: 100_000_000 }),
  LOG_LEVEL: 'warn',
  AUTH_SCRYPT_LOG_N: '17',
};

const DEFAULT_CONNECTIONS = 10;
/** Scenarios whose targets are stated on a database of a million IoCs. */
const NEEDS_IOCS = new Set(['threat-cloud', 'intel']);
/** Scenarios that seed their own data folder and start their own process (`--iocs` is theirs). */
const OWN_DATA = new Set(['stall']);
const DEFAULT_IOCS = 1_000_000;

/** Loads synthetic IoCs into the data folder before the process opens it. */
function seedDataDir(dataDir: string, count: number): void {
  const db = openDatabase(path.join(dataDir, 'panguard.db'));
  try {
    migrate(db, MIGRATIONS);
    const started = Date.now();
    const inserted = seedIocs(db, { count });
    // Synthetic rows are no campaign material: mark them correlated, so the background pass
    // does not chew through a million-row backlog during the measurements.
    db.prepare(`UPDATE intel_state SET value = (SELECT coalesce(max(rowid), 0) FROM sightings) WHERE name = 'correlated_sighting'`).run();
    process.stderr.write(`seeded ${inserted} IoCs in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    closeDatabase(db);
  }
}
const DEFAULT_SECONDS = 5;

async function runLoad(options: LoadOptions, ca?: Buffer): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    method: options.method ?? 'GET',
    headers: { ...(options.body || options.bodies ? { 'content-type': 'application/json' } : {}), ...options.headers },
    ...(options.body ? { body: options.body } : {}),
    ...(options.bodies || options.paths
      ? {
          requests: [
            {
              // Set in place: a new request object per call was the load generator's own work,
              // paid only on the project's side of a comparison (the bare route's request is fixed).
              setupRequest: (request: Record<string, unknown>) => {
                if (options.bodies) request.body = options.bodies();
                if (options.paths) request.path = options.paths();
                return request;
              },
            },
          ],
        }
      : {}),
    connections: options.connections ?? DEFAULT_CONNECTIONS,
    duration: options.durationSeconds ?? DEFAULT_SECONDS,
    // autocannon passes these to tls.connect: trust exactly the Manager's certificate.
    ...(ca ? { tlsOptions: { ca, servername: 'localhost' } } : {}),
  } as autocannon.Options);
  return {
    perSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

const COMPARE_ROUNDS = 5;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function medianResult(results: LoadResult[]): LoadResult {
  return {
    perSecond: median(results.map((r) => r.perSecond)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
  };
}

/** Alternates the two loads round by round (ABBA…) so a slow minute of the machine hits both alike. */
async function compareRounds(project: () => Promise<LoadResult>, bare: () => Promise<LoadResult>, rounds: number): Promise<Comparison> {
  const results: LoadResult[] = [];
  const bases: LoadResult[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      results.push(await project());
      bases.push(await bare());
    } else {
      bases.push(await bare());
      results.push(await project());
    }
  }
  const ratios = results.map((result, round) => result.perSecond / bases[round]!.perSecond);
  const summary = `median of ${ratios.length} interleaved rounds (${ratios.map((r) => r.toFixed(2)).join(', ')})`;
  return { result: medianResult(results), baseline: medianResult(bases), ratio: median(ratios), ratios, rounds: summary };
}

/** CPU seconds the process has used so far (user + system, from /proc). */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const QUIET_SHARE = 0.05;
const QUIET_LIMIT_MS = 180_000;

/**
 * Waits until the server process uses less than 5 % of a core over a second, so a comparison
 * measures its path and not work an earlier scenario left behind that is still running
 * (background jobs such as the campaign correlation of new reports). Work that starts later,
 * on a timer, it cannot see: the scenarios' order handles that (SCENARIOS). Returns how long it
 * waited, or null when the server was never quiet within three minutes.
 */
async function untilQuiet(pid: number): Promise<number | null> {
  const started = Date.now();
  while (Date.now() - started < QUIET_LIMIT_MS) {
    const before = cpuSecondsOf(pid);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (cpuSecondsOf(pid) - before < QUIET_SHARE) return Date.now() - started;
  }
  return null;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib / 1024;
}

async function startBare(dir: string): Promise<{ child: ChildProcess; http: string; https: string; ca: Buffer }> {
  const certFile = path.join(dir, 'bare.crt');
  const keyFile = path.join(dir, 'bare.key');
  const { cert } = await ensureSelfSignedCertificate(certFile, keyFile);
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'test', 'bench', 'bare-server.mjs'), String(httpPort), String(httpsPort), certFile, keyFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { child, http: `http://127.0.0.1:${httpPort}/`, https: `https://localhost:${httpsPort}/`, ca: Buffer.from(cert) };
}

function printTable(rows: BenchRow[]): void {
  // The stall scenario's columns appear only when a row has them.
  const probes = rows.some((r) => r.probeMs !== undefined || r.loopMs !== undefined);
  const header = ['scenario', 'rate', 'p50 ms', 'p99 ms', ...(probes ? ['probe ms', 'loop ms'] : []), 'ratio', 'target', 'met', 'note'];
  const lines = rows.map((r) => [
    r.scenario,
    `${r.perSecond.toFixed(r.perSecond < 100 ? 2 : 0)} ${r.unit}`,
    r.p50Ms?.toFixed(2) ?? '',
    r.p99Ms?.toFixed(2) ?? '',
    ...(probes ? [r.probeMs?.toFixed(1) ?? '', r.loopMs?.toFixed(1) ?? ''] : []),
    r.ratio?.toFixed(2) ?? '',
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  process.stdout.write(`${[format(header), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format)].join('\n')}\n`);
}

async function main(): Promise<void> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const unknown = only.filter((name) => !(name in SCENARIOS));
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const flags = Object.fromEntries(
    process.argv
      .slice(2)
      .filter((a) => a.startsWith('--') && a.includes('='))
      .map((a) => [a.slice(2, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
  const jsonOut = flags.json;
  const iocsArg = flags.iocs;
  const selected = only.length > 0 ? only : Object.keys(SCENARIOS);
  const iocs = iocsArg !== undefined ? Number(iocsArg) : selected.some((name) => NEEDS_IOCS.has(name)) ? DEFAULT_IOCS : 0;
  if (!Number.isInteger(iocs) || iocs < 0) throw new Error(`--iocs must be a whole number, got ${iocsArg}`);

  const workDir = mkdtempSync(path.join(tmpdir(), 'panguard-bench-'));
  const extraProcesses: ServerProcess[] = [];
  const bare = await startBare(workDir);
  // A scenario with its own data folder seeds it itself: the shared one stays small if it runs alone.
  if (iocs > 0 && selected.some((name) => !OWN_DATA.has(name))) seedDataDir(path.join(workDir, 'data'), iocs);
  const server = await startServerProcess(path.join(workDir, 'data'), BENCH_ENV);
  try {
    await server.waitHealthy();
    const secrets = JSON.parse(readFileSync(path.join(server.dataDir, 'secrets.json'), 'utf8')) as Record<string, string>;
    const managerCa = server.managerCa();
    const context: BenchContext = {
      urls: server.urls,
      secrets: { managerAuthToken: secrets.managerAuthToken!, tcAdminToken: secrets.tcAdminToken!, tcApiKey: BENCH_API_KEY },
      dataDir: server.dataDir,
      databasePath: path.join(server.dataDir, 'panguard.db'),
      flags,
      scratchDir: workDir,
      seedIocs: seedDataDir,
      pid: server.child.pid!,
      load: (options) => runLoad(options, options.url.startsWith('https:') ? managerCa : undefined),
      baseline: (https, options = {}) => runLoad({ url: https ? bare.https : bare.http, ...options }, https ? bare.ca : undefined),
      async compare(load, { https, method, body, path: barePath = '/' }, rounds = COMPARE_ROUNDS) {
        const bareOptions = { connections: load.connections, durationSeconds: load.durationSeconds, method, body };
        const waited = await untilQuiet(server.child.pid!);
        process.stderr.write(waited === null ? `the server was still busy after ${QUIET_LIMIT_MS / 1000} s; measuring anyway\n` : `server quiet after ${waited} ms\n`);
        return compareRounds(
          () => runLoad(load, load.url.startsWith('https:') ? managerCa : undefined),
          () => runLoad({ url: new URL(barePath, https ? bare.https : bare.http).href, ...bareOptions }, https ? bare.ca : undefined),
          rounds,
        );
      },
      rssMiB: () => rssOf(server.child.pid!),
      async spawnServer(dataDir, env = {}) {
        const extra = await startServerProcess(dataDir, { ...BENCH_ENV, ...env });
        extraProcesses.push(extra);
        await extra.waitHealthy(120_000);
        return extra;
      },
    };
    const rows: BenchRow[] = [];
    try {
      for (const [name, scenario] of Object.entries(SCENARIOS)) {
        if (only.length > 0 && !only.includes(name)) continue;
        process.stderr.write(`running ${name}…\n`);
        rows.push(...(await scenario(context)));
      }
    } finally {
      // Rows measured before a failing scenario are still worth having.
      process.stdout.write(`\nPanguard benchmark (${new Date().toISOString()}, node ${process.version}, ${(await import('node:os')).cpus().length} cores)\n`);
      printTable(rows);
      if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(rows, null, 2)}\n`);
    }
  } finally {
    await Promise.all([server, ...extraProcesses].map((p) => p.stop('SIGTERM')));
    bare.child.kill('SIGTERM');
    rmSync(workDir, { recursive: true, force: true });
  }
}

await main();
