/**
 * Threat Cloud stall probe (issue 19), outside `npm test`: times every list, filter, search,
 * statistics and analytics request of the Threat Cloud once against the real process on a
 * large database, with an Auth Server `/health` request sent meanwhile, and prints both.
 *
 *   npm run seed -- --iocs 1000000            # into DATA_DIR, once (about 2 minutes)
 *   node --import tsx test/bench/tc-stall-probe.ts --db <seeded panguard.db> [--audit 1000000] [--json out.json] [--writes]
 *
 * The database is copied into a temporary data folder first, so the seeded file stays as it
 * was. `--audit N` adds synthetic audit entries until there are N. Before every request one
 * new IoC is reported, so memoised answers are recomputed as they would be under writes.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { freePort, REPO_ROOT } from '../process.js';

const KEY = 'tc-stall-probe-key-0123456789abcdefghijklmnopqrstuvwxyz';
/** The Auth /health probe leaves this long after the Threat Cloud request, so it queues behind it. */
const PROBE_DELAY_MS = 5;

interface Args {
  db: string;
  audit: number;
  json: string | null;
  only: string | null;
  writes: boolean;
}

function parseArgs(argv: string[]): Args {
  const value = (name: string) => {
    const index = argv.indexOf(name);
    return index >= 0 ? argv[index + 1] ?? null : null;
  };
  const db = value('--db');
  if (!db) throw new Error('usage: tc-stall-probe.ts --db <seeded panguard.db> [--audit N] [--json file] [--only substring] [--writes]');
  return { db, audit: Number(value('--audit') ?? 0), json: value('--json'), only: value('--only'), writes: argv.includes('--writes') };
}

/** Audit entries up to `target` (a quarter of them writes), spread over the last 30 days. */
function addAuditEntries(file: string, target: number): void {
  const db = new Database(file);
  try {
    const have = (db.prepare('SELECT count(*) AS n FROM tc_audit_log').get() as { n: number }).n;
    if (have >= target) return;
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @count)
       INSERT INTO tc_audit_log (id, action, resource, details, api_key, ip, created_at)
       SELECT 'audit_probe' || i, CASE i % 20 WHEN 0 THEN 'create' WHEN 1 THEN 'update' WHEN 2 THEN 'delete' WHEN 3 THEN 'create' WHEN 4 THEN 'create' ELSE 'query' END,
         'iocs', '{"count":1}', 'tc-s…wxyz', '127.0.0.1',
         strftime('%Y-%m-%dT%H:%M:%fZ', (@nowMs - abs(random()) % 2592000000) / 1000.0, 'unixepoch')
       FROM n`,
    ).run({ count: target - have, nowMs: Date.now() });
  } finally {
    db.close();
  }
}

function facts(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const newest = (db.prepare('SELECT max(updated_at) AS at FROM iocs').get() as { at: string | null }).at ?? new Date().toISOString();
    const sample = db.prepare(`SELECT value FROM iocs WHERE type = 'ip' LIMIT 1 OFFSET 1000`).pluck().get() as string | undefined;
    const ips = db.prepare(`SELECT value FROM iocs WHERE type = 'ip' AND rowid % 997 = 0 LIMIT 500`).pluck().all() as string[];
    const campaign = db.prepare(`SELECT id FROM campaigns WHERE formed_at IS NOT NULL ORDER BY ioc_count DESC LIMIT 1`).pluck().get() as string | undefined;
    return { newest, sample: sample ?? '11.0.3.232', campaign: campaign ?? 'cmp_none', ips };
  } finally {
    db.close();
  }
}

function requests(f: ReturnType<typeof facts>): string[] {
  const day = (n: number) => new Date(Date.parse(f.newest) - n * 86_400_000).toISOString();
  return [
    '/api/iocs?limit=50',
    '/api/iocs?limit=200&page=50',
    '/api/iocs?limit=50&type=domain',
    '/api/iocs?limit=200&page=50&type=domain',
    '/api/iocs?limit=50&type=cve',
    '/api/iocs?limit=50&category=c2',
    '/api/iocs?limit=200&page=50&category=c2',
    '/api/iocs?limit=50&status=active',
    '/api/iocs?limit=50&status=revoked',
    '/api/iocs?limit=50&source=seed',
    '/api/iocs?limit=200&page=50&source=seed',
    '/api/iocs?limit=50&source=nobody',
    '/api/iocs?limit=50&minReputation=90',
    '/api/iocs?limit=50&maxReputation=30',
    '/api/iocs?limit=200&page=50&minReputation=50&maxReputation=60',
    `/api/iocs?limit=50&since=${day(1)}`,
    `/api/iocs?limit=200&page=50&since=${day(10)}`,
    '/api/iocs?limit=50&since=2099-01-01T00:00:00.000Z',
    '/api/iocs?limit=50&q=11.1',
    '/api/iocs?limit=200&page=50&q=11.',
    '/api/iocs?limit=50&q=seed-1',
    '/api/iocs?limit=50&q=zzz',
    '/api/iocs?limit=50&type=domain&category=c2',
    '/api/iocs?limit=200&page=50&type=ip&category=c2&status=active&maxReputation=80',
    '/api/iocs?limit=50&type=domain&category=c2&status=revoked',
    '/api/iocs?limit=50&source=seed&category=c2',
    '/api/iocs?limit=200&page=50&source=seed&type=domain&minReputation=40',
    `/api/iocs?limit=50&type=domain&since=${day(2)}`,
    `/api/iocs?limit=200&page=50&q=11.&since=${day(15)}`,
    `/api/iocs?limit=50&q=seed-&since=${day(3)}&category=c2`,
    '/api/iocs?limit=50&q=11.&type=domain',
    `/api/iocs?limit=50&source=seed&q=11.2&since=${day(5)}`,
    `/api/sightings?value=${f.sample}`,
    '/api/campaigns',
    '/api/campaigns?limit=100&page=100',
    '/api/campaigns?status=active',
    '/api/campaigns?status=resolved&limit=100&page=50',
    `/api/campaigns?since=${day(1)}`,
    '/api/campaigns/stats',
    `/api/campaigns/${f.campaign}`,
    '/api/audit-log',
    '/api/audit-log?limit=200&page=50',
    '/api/audit-log?action=update',
    '/api/audit-log?action=delete&limit=200&page=50',
    `/api/audit-log?since=${day(1)}`,
    `/api/audit-log?action=create&since=${day(20)}&limit=200&page=50`,
    '/api/stats',
    '/api/query/timeseries?granularity=hour&period=90d',
    '/api/query/timeseries?granularity=week&period=90d&category=c2',
    '/api/query/geo?period=90d',
    '/api/query/trends?periodDays=90',
    '/api/query/trends?periodDays=1',
    '/api/query/mitre-heatmap?period=90d',
    '/api/feeds/iocs?limit=5000',
    '/api/feeds/iocs?limit=5000&type=domain&maxReputation=50',
    `/api/feeds/iocs?limit=5000&since=${day(1)}`,
    `/api/iocs/${f.sample}`,
  ];
}

async function timed(url: string, headers: Record<string, string> = {}): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  return { ms: performance.now() - started, status: res.status };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tc-stall-probe-'));
  const file = path.join(dataDir, 'panguard.db');
  process.stderr.write(`copying ${args.db} …\n`);
  copyFileSync(args.db, file);
  if (args.audit > 0) addAuditEntries(file, args.audit);
  const f = facts(file);
  const ports = { auth: await freePort(), manager: await freePort(), threatCloud: await freePort() };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      AUTH_PORT: String(ports.auth),
      MANAGER_PORT: String(ports.manager),
      MANAGER_TLS: 'false',
      TC_PORT: String(ports.threatCloud),
      DATA_DIR: dataDir,
      TC_API_KEYS: KEY,
      RATE_LIMIT_SCALE: '1000',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Panguard API server is running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
  });
  const tc = `http://127.0.0.1:${ports.threatCloud}`;
  const auth = `http://127.0.0.1:${ports.auth}`;
  const headers = { authorization: `Bearer ${KEY}` };
  let n = 0;
  const rows: Array<{ request: string; status: number; ms: number; healthMs: number }> = [];
  try {
    if (args.writes) await timeWrites(tc, headers, f.ips);
    for (const pathAndQuery of requests(f)) {
      if (args.only && !pathAndQuery.includes(args.only)) continue;
      // A new IoC (and report) first: memoised aggregates see changed data, as under real traffic.
      n += 1;
      await fetch(`${tc}/api/threats`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ threats: [{ type: 'domain', value: `probe-${Date.now()}-${n}.example.org`, source: 'probe', category: 'c2' }] }),
      });
      const request = timed(`${tc}${pathAndQuery}`, headers);
      await new Promise((resolve) => setTimeout(resolve, PROBE_DELAY_MS));
      const health = await timed(`${auth}/health`);
      const answer = await request;
      rows.push({ request: pathAndQuery, status: answer.status, ms: Math.round(answer.ms), healthMs: Math.round(health.ms) });
      process.stdout.write(`${String(answer.status).padEnd(4)} ${String(Math.round(answer.ms)).padStart(6)} ms  health ${String(Math.round(health.ms)).padStart(5)} ms  ${pathAndQuery}\n`);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (args.json) writeFileSync(args.json, JSON.stringify(rows, null, 2));
}

/** What a report batch costs at this size (more indexes and counters make writes dearer): median of 5 batches of 100. */
async function timeWrites(tc: string, headers: Record<string, string>, sample: string[]): Promise<void> {
  for (const kind of ['existing', 'new'] as const) {
    const times: number[] = [];
    for (let round = 0; round < 5; round += 1) {
      const threats = Array.from({ length: 100 }, (_, i) =>
        kind === 'existing'
          ? { type: 'ip', value: sample[(round * 100 + i) % sample.length]!, source: 'probe-writes', category: 'scanner' }
          : { type: 'domain', value: `probe-write-${Date.now()}-${round}-${i}.example.org`, source: 'probe-writes', category: 'c2' },
      );
      const started = performance.now();
      const res = await fetch(`${tc}/api/threats`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ threats }) });
      await res.arrayBuffer();
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    process.stdout.write(`POST /api/threats, 100 ${kind} IoCs: median ${Math.round(times[2]!)} ms\n`);
  }
}

await main();
