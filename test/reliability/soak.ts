/**
 * Soak: `npm run soak` (not part of CI). Starts the real process on a temp data folder,
 * drives a steady mixed load (heartbeats, event batches, IoC writes and lookups, logins,
 * SSE clients that come and go) for SOAK_MINUTES (10), prints the server's RSS every
 * SOAK_SAMPLE_SECONDS (10) and exits 1 if the RSS at the end is more than 10 % above the
 * RSS right after the warm-up (SOAK_WARMUP_MINUTES, 2): a leak shows as steady growth.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request, startServerProcess, type ServerProcess } from '../process.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const WARMUP_MINUTES = Number(process.env.SOAK_WARMUP_MINUTES ?? 2);
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 10) * 1000;
const MAX_GROWTH = 0.1;
const MANAGER_TOKEN = 'soak-manager-token-0123456789abcdef0123';
const TC_KEY = `pgk_soak_${'k'.repeat(40)}`;
const PASSWORD = 'correct horse battery staple';

/** Resident set size of a process in MiB (Linux /proc, else ps). */
function rssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // Not Linux: fall through to ps.
  }
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)]).toString().trim()) / 1024;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** An SSE client that stays for a while, then leaves (exercises stream clean-up). */
async function sseVisitor(server: ServerProcess, ca: Buffer, stayMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const req = https.request(`${server.urls.manager}/api/events/stream`, {
      ca,
      headers: { authorization: `Bearer ${MANAGER_TOKEN}` },
      agent: false,
    });
    req.on('response', (res) => {
      res.resume();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, stayMs);
    });
    req.on('error', () => resolve());
    req.end();
  });
}

async function main(): Promise<number> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'panguard-soak-'));
  const server = await startServerProcess(dataDir, {
    RATE_LIMIT_SCALE: '100000',
    TC_API_KEYS: TC_KEY,
    MANAGER_AUTH_TOKEN: MANAGER_TOKEN,
    LOG_LEVEL: 'error',
  });
  try {
    await server.waitHealthy(30_000);
    const ca = server.managerCa();
    const post = (url: string, token: string, body: unknown) =>
      request(url, { method: 'POST', ca, headers: token ? { authorization: `Bearer ${token}` } : {}, body: JSON.stringify(body), timeoutMs: 15_000 });

    const agents: Array<{ id: string; token: string }> = [];
    for (let n = 0; n < 20; n++) {
      const r = await post(`${server.urls.manager}/api/agents/register`, MANAGER_TOKEN, { hostname: `soak-${n}`, os: 'linux', version: '1.0.0' });
      const data = (JSON.parse(r.body) as { data: { id: string; agentToken: string } }).data;
      agents.push({ id: data.id, token: data.agentToken });
    }
    const email = 'soak@example.com';
    await post(`${server.urls.auth}/api/auth/register`, '', { email, name: 'Soak', password: PASSWORD });

    let stop = false;
    const counts = { ok: 0, failed: 0 };
    const lane = (work: (n: number) => Promise<number>, paceMs: number) => async () => {
      for (let n = 0; !stop; n++) {
        try {
          const status = await work(n);
          if (status >= 200 && status < 300) counts.ok++;
          else counts.failed++;
        } catch {
          counts.failed++;
        }
        await pause(paceMs);
      }
    };
    const lanes = [
      lane(async (n) => {
        const agent = agents[n % agents.length]!;
        return (await post(`${server.urls.manager}/api/agents/${agent.id}/heartbeat`, agent.token, { uptime: n, cpu: 5, memory: 30 })).status;
      }, 5),
      lane(async (n) => {
        const agent = agents[n % agents.length]!;
        const events = Array.from({ length: 20 }, (_, i) => ({ type: 'port_scan', severity: 'low', details: { n, i, sourceIp: `203.0.113.${(n + i) % 250}` } }));
        return (await post(`${server.urls.manager}/api/agents/${agent.id}/events`, agent.token, { events })).status;
      }, 20),
      lane(async (n) => {
        const threats = Array.from({ length: 10 }, (_, i) => ({ type: 'domain', value: `soak-${n}-${i}.example.org`, source: 'soak', category: 'malware' }));
        return (await post(`${server.urls.threatCloud}/api/threats`, TC_KEY, { threats })).status;
      }, 20),
      lane(async (n) => (await request(`${server.urls.threatCloud}/api/iocs/soak-${Math.max(0, n - 5)}-1.example.org`, { headers: { authorization: `Bearer ${TC_KEY}` } })).status, 5),
      lane(async () => (await post(`${server.urls.auth}/api/auth/login`, '', { email, password: PASSWORD })).status, 200),
      lane(async () => (await request(`${server.urls.manager}/api/overview`, { ca, headers: { authorization: `Bearer ${MANAGER_TOKEN}` } })).status, 100),
      lane(async () => {
        await sseVisitor(server, ca, 2000);
        return 200;
      }, 100),
    ];
    const running = lanes.map((run) => run());

    const started = Date.now();
    const warmupEnds = started + WARMUP_MINUTES * 60_000;
    const ends = started + MINUTES * 60_000;
    const samples: Array<{ at: number; mib: number }> = [];
    console.log(`soak: ${MINUTES} min (warm-up ${WARMUP_MINUTES} min), RSS every ${SAMPLE_MS / 1000} s, pid ${server.child.pid}`);
    while (Date.now() < ends) {
      await pause(Math.min(SAMPLE_MS, Math.max(0, ends - Date.now())));
      const mib = rssMiB(server.child.pid!);
      samples.push({ at: Date.now(), mib });
      const phase = Date.now() < warmupEnds ? 'warm-up' : 'measure';
      console.log(`${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s  ${phase}  RSS ${mib.toFixed(1)} MiB  requests ok ${counts.ok}, failed ${counts.failed}`);
    }
    stop = true;
    await Promise.all(running);

    const measured = samples.filter((s) => s.at >= warmupEnds);
    if (measured.length < 4) {
      console.error('soak: too few samples after the warm-up; run longer');
      return 1;
    }
    // Averages of the first and last three samples damp GC sawtooth.
    const baseline = mean(measured.slice(0, 3).map((s) => s.mib));
    const final = mean(measured.slice(-3).map((s) => s.mib));
    const growth = (final - baseline) / baseline;
    console.log(`soak: RSS after warm-up ${baseline.toFixed(1)} MiB, at the end ${final.toFixed(1)} MiB: ${(growth * 100).toFixed(1)} % (limit ${MAX_GROWTH * 100} %)`);
    console.log(`soak: ${counts.ok} requests ok, ${counts.failed} failed`);
    if (counts.failed > 0) console.error('soak: FAILED: some requests failed under steady load');
    if (growth > MAX_GROWTH) console.error('soak: FAILED: RSS grew more than 10 % after the warm-up');
    const stopped = await server.stop('SIGTERM');
    if (stopped.code !== 0) console.error(`soak: FAILED: exit code ${stopped.code} on SIGTERM`);
    return growth <= MAX_GROWTH && counts.failed === 0 && stopped.code === 0 ? 0 : 1;
  } finally {
    await server.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
