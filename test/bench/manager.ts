import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { rawInsertRate } from './raw-insert.js';
import { COMPARED_CONNECTIONS, type BenchContext, type BenchRow, type Scenario } from './types.js';

const AGENTS = 1000;
const BATCH = 100;
const STREAMS = 500;
const PUBLISHES = 20;
const SECONDS = 5;
const CONNECTIONS = 10;
/** Seconds of each interleaved round of heartbeats (and of the bare HTTPS route beside it). */
const ROUND_SECONDS = 3;

/** The bench talks to the real process's self-signed listener on localhost only. */
const insecureAgent = new https.Agent({ rejectUnauthorized: false, keepAlive: true, maxSockets: 64 });

function call(url: string, method: string, token: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = https.request(
      url,
      {
        method,
        agent: insecureAgent,
        headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, json: text ? JSON.parse(text) : null }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

async function registerFleet(base: string, token: string): Promise<{ id: string; agentToken: string }[]> {
  const run = randomUUID().slice(0, 8);
  const agents: { id: string; agentToken: string }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < AGENTS) {
      const index = next++;
      const res = await call(`${base}/api/agents/register`, 'POST', token, {
        hostname: `bench-${run}-${index}`,
        os: index % 3 === 0 ? 'win32' : 'linux',
        version: '1.0.0',
        ip: `10.${(index >> 8) & 255}.${index & 255}.1`,
        tags: ['bench'],
      });
      if (res.status !== 201) throw new Error(`registration failed with ${res.status}`);
      agents.push((res.json as { data: { id: string; agentToken: string } }).data);
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  return agents;
}

/**
 * A batch of detections. From private addresses they are only stored; from public ones each
 * also becomes a Threat Cloud report in the same transaction, a heavier path.
 */
export function eventBatch(publicSources = false): { events: Record<string, unknown>[] } {
  return {
    events: Array.from({ length: BATCH }, (_, i) => ({
      type: i % 2 ? 'brute_force' : 'port_scan',
      severity: ['low', 'medium', 'high', 'critical'][i % 4],
      details: { sourceIp: publicSources ? `198.51.100.${i % 250}` : `10.0.${i % 250}.7`, port: 22, attempts: i },
      confidence: 0.7,
      ruleId: 'bench-rule',
    })),
  };
}

/** 100-row transactions of the same event rows into a copy of `threat_events`, nothing else. */
function rawEventInsertRate(databasePath: string, seconds: number): number {
  const template = eventBatch().events;
  return rawInsertRate({
    databasePath,
    table: 'threat_events',
    batch: BATCH,
    seconds,
    synchronous: 'NORMAL',
    row: (n) => {
      const event = template[n % BATCH]!;
      const now = Date.now();
      const iso = new Date(now).toISOString();
      return {
        id: `evt_${randomUUID().replaceAll('-', '')}`,
        agent_id: 'agent-raw',
        org_id: 'default',
        hostname: 'raw',
        type: event.type,
        severity: event.severity,
        confidence: event.confidence,
        rule_id: event.ruleId,
        details: JSON.stringify(event.details),
        source_ip: (event.details as { sourceIp: string }).sourceIp,
        timestamp: iso,
        timestamp_ms: now,
        received_at: iso,
      };
    },
  });
}

interface OpenStream {
  received: Map<string, number>;
  close(): void;
}

function openStream(base: string, token: string, marker: string): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const received = new Map<string, number>();
    let buffer = '';
    const request = https.get(
      `${base}/api/events/stream`,
      { agent: false, rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` } },
      (response) => {
        if (response.statusCode !== 200) return reject(new Error(`stream answered ${response.statusCode}`));
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const at = performance.now();
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (frame.includes('event: connected')) resolve({ received, close: () => request.destroy() });
            const match = new RegExp(`"name":"${marker}-(\\d+)"`).exec(frame) ?? new RegExp(`"hostname":"${marker}-(\\d+)"`).exec(frame);
            if (match) received.set(match[1]!, at);
          }
        });
      },
    );
    request.on('error', reject);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function fanOut(base: string, token: string): Promise<BenchRow> {
  const marker = `fan${randomUUID().slice(0, 6)}`;
  const streams: OpenStream[] = [];
  for (let i = 0; i < STREAMS; i += 50) {
    streams.push(...(await Promise.all(Array.from({ length: Math.min(50, STREAMS - i) }, () => openStream(base, token, marker)))));
  }
  const latencies: number[] = [];
  try {
    for (let n = 0; n < PUBLISHES; n++) {
      const sent = performance.now();
      // A registration publishes agent_online to every stream.
      const res = await call(`${base}/api/agents/register`, 'POST', token, { hostname: `${marker}-${n}`, os: 'linux', version: '1', ip: '10.0.0.1' });
      if (res.status !== 201) throw new Error(`publish failed with ${res.status}`);
      const deadline = performance.now() + 2000;
      while (streams.some((s) => !s.received.has(String(n))) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      for (const stream of streams) latencies.push((stream.received.get(String(n)) ?? Number.POSITIVE_INFINITY) - sent);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const stream of streams) stream.close();
  }
  latencies.sort((a, b) => a - b);
  const p99 = percentile(latencies, 99);
  const missing = latencies.filter((l) => !Number.isFinite(l)).length;
  return {
    scenario: `manager: SSE fan-out to ${STREAMS} streams`,
    // A latency scenario: the rate column carries the p99 in ms.
    perSecond: p99,
    unit: 'ms',
    p50Ms: percentile(latencies, 50),
    p99Ms: p99,
    target: 'p99 < 100 ms',
    met: missing === 0 && p99 < 100,
    note: `${PUBLISHES} events × ${STREAMS} streams, latency from publishing request sent to frame received${missing ? `; ${missing} deliveries missing` : ''}`,
  };
}

/**
 * Manager scenarios against the real process over HTTPS: heartbeats with 1,000 registered
 * agents vs a bare Fastify HTTPS route, 100-event batches vs raw better-sqlite3, and SSE
 * fan-out latency to 500 streams.
 */
export const managerScenario: Scenario = async (ctx: BenchContext) => {
  const base = ctx.urls.manager.replace(/\/$/, '');
  const token = ctx.secrets.managerAuthToken;
  const rows: BenchRow[] = [];

  const fleet = await registerFleet(base, token);
  const agent = fleet[Math.floor(fleet.length / 2)]!;
  const beat = JSON.stringify({ cpu: 12.5, memory: 40, uptime: 3600, policyVersion: 'v1' });
  // The yardstick gets the same POST body, so the ratio measures the Manager, not body parsing.
  const { result: heartbeat, baseline: bare, ratio: heartbeatRatio, rounds } = await ctx.compare(
    {
      url: `${base}/api/agents/${agent.id}/heartbeat`,
      method: 'POST',
      headers: { authorization: `Bearer ${agent.agentToken}` },
      body: beat,
      connections: COMPARED_CONNECTIONS,
      durationSeconds: ROUND_SECONDS,
    },
    { https: true, method: 'POST', body: beat },
  );
  rows.push({
    scenario: `manager: heartbeat (${AGENTS} agents registered)`,
    perSecond: heartbeat.perSecond,
    unit: 'req/s',
    p50Ms: heartbeat.p50Ms,
    p99Ms: heartbeat.p99Ms,
    ratio: heartbeatRatio,
    target: '>= 0.5 of bare HTTPS',
    met: heartbeatRatio >= 0.5 && heartbeat.errors === 0 && heartbeat.non2xx === 0,
    note: `bare HTTPS POST ${bare.perSecond.toFixed(0)} req/s; ${rounds}; errors ${heartbeat.errors}, non-2xx ${heartbeat.non2xx}`,
  });

  const reporter = fleet[0]!;
  const ingest = (publicSources: boolean) =>
    ctx.load({
      url: `${base}/api/agents/${reporter.id}/events`,
      method: 'POST',
      headers: { authorization: `Bearer ${reporter.agentToken}` },
      body: JSON.stringify(eventBatch(publicSources)),
      connections: CONNECTIONS,
      durationSeconds: SECONDS,
    });
  const stored = await ingest(false);
  const raw = rawEventInsertRate(ctx.databasePath, SECONDS);
  const eventsPerSecond = stored.perSecond * BATCH;
  const ingestRatio = eventsPerSecond / raw;
  rows.push({
    scenario: `manager: event ingestion (${BATCH}-event batches, private source IPs)`,
    perSecond: eventsPerSecond,
    unit: 'events/s',
    p50Ms: stored.p50Ms,
    p99Ms: stored.p99Ms,
    ratio: ingestRatio,
    target: '>= 0.3 of raw better-sqlite3',
    met: ingestRatio >= 0.3 && stored.errors === 0 && stored.non2xx === 0,
    note: `raw better-sqlite3 ${raw.toFixed(0)} rows/s in ${BATCH}-row transactions; errors ${stored.errors}, non-2xx ${stored.non2xx}`,
  });
  const reported = await ingest(true);
  rows.push({
    scenario: `manager: event ingestion (${BATCH}-event batches, public source IPs → Threat Cloud reports)`,
    perSecond: reported.perSecond * BATCH,
    unit: 'events/s',
    p50Ms: reported.p50Ms,
    p99Ms: reported.p99Ms,
    ratio: (reported.perSecond * BATCH) / raw,
    note: `each event also updates an IoC, its reporters and reputation; errors ${reported.errors}, non-2xx ${reported.non2xx}`,
  });

  rows.push(await fanOut(base, token));
  insecureAgent.destroy();
  return rows;
};
