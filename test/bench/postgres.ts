/**
 * The write paths on PostgreSQL next to SQLite, in the same run: IoC uploads (100 new IPs per
 * batch, 8 in flight) and Manager event ingestion (100-event batches) against the benchmark's
 * SQLite process and against a second process of the same build on a local PostgreSQL 15
 * cluster with durable commits (fsync on, as in production). Rates are absolute and compared
 * engine to engine; the PostgreSQL server shares the machine's two cores with the process.
 */
import https from 'node:https';
import path from 'node:path';
import { connectPostgres, startPostgres } from '../postgres.js';
import { eventBatch } from './manager.js';
import { newIpBatches } from './threat-cloud.js';
import type { BenchContext, BenchRow, LoadResult, Scenario } from './types.js';

const SECONDS = 5;
const ROUNDS = 2;

const insecureAgent = new https.Agent({ rejectUnauthorized: false });

/** One agent registered with the operator token: the events' reporter. */
async function registerReporter(managerUrl: string, operatorToken: string): Promise<{ id: string; agentToken: string }> {
  const body = JSON.stringify({ hostname: `bench-reporter-${process.pid}`, os: 'linux', version: '1.0.0', ip: '10.9.9.9' });
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${managerUrl}/api/agents/register`,
      { method: 'POST', agent: insecureAgent, headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () =>
          response.statusCode === 201 ? resolve((JSON.parse(text) as { data: { id: string; agentToken: string } }).data) : reject(new Error(`registration ${response.statusCode}: ${text}`)),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

interface Target {
  engine: 'SQLite' | 'PostgreSQL';
  urls: BenchContext['urls'];
  operatorToken: string;
  /** First octet of the IPs this target's uploads create (each target its own range). */
  firstOctet: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export const postgresScenario: Scenario = async (context) => {
  const stops: (() => unknown)[] = [];
  try {
    const cluster = await startPostgres({ teardown: (fn) => void stops.push(fn) }, { durable: true });
    const dataDir = path.join(context.scratchDir, 'postgres-data');
    const databaseUrl = await cluster.freshDatabase();
    const server = await context.spawnServer(dataDir, { DATABASE_URL: databaseUrl, DATABASE_TLS: 'disable' });
    // On PostgreSQL the generated secrets are kept in the database, shared by every replica.
    const client = await connectPostgres({ teardown: (fn) => void stops.push(fn) }, databaseUrl);
    const secrets = (await client.query(`SELECT value AS "managerAuthToken" FROM cluster_secrets WHERE name = 'managerAuthToken'`)).rows[0] as { managerAuthToken: string };
    const targets: Target[] = [
      { engine: 'SQLite', urls: context.urls, operatorToken: context.secrets.managerAuthToken, firstOctet: 14 },
      { engine: 'PostgreSQL', urls: server.urls, operatorToken: secrets.managerAuthToken, firstOctet: 15 },
    ];
    const uploads = new Map<Target, { bodies: () => string; results: LoadResult[] }>(targets.map((target) => [target, { bodies: newIpBatches(target.firstOctet), results: [] }]));
    const ingests = new Map<Target, LoadResult[]>(targets.map((target) => [target, []]));
    const reporters = new Map(await Promise.all(targets.map(async (target) => [target, await registerReporter(target.urls.manager, target.operatorToken)] as const)));
    const events = JSON.stringify(eventBatch(false));

    // Rounds alternate the engines so drift on the shared machine touches both alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        const upload = uploads.get(target)!;
        upload.results.push(
          await context.load({
            url: `${target.urls.threatCloud}/api/threats`,
            method: 'POST',
            headers: { authorization: `Bearer ${context.secrets.tcApiKey}`, 'content-type': 'application/json' },
            bodies: upload.bodies,
            connections: 8,
            durationSeconds: SECONDS,
          }),
        );
        const reporter = reporters.get(target)!;
        ingests.get(target)!.push(
          await context.load({
            url: `${target.urls.manager}/api/agents/${reporter.id}/events`,
            method: 'POST',
            headers: { authorization: `Bearer ${reporter.agentToken}` },
            body: events,
            connections: 10,
            durationSeconds: SECONDS,
          }),
        );
      }
    }

    const rows: BenchRow[] = [];
    const rate = (results: LoadResult[], perRequest: number) => median(results.map((r) => r.perSecond)) * perRequest;
    const failures = (results: LoadResult[]) => results.reduce((sum, r) => sum + r.errors + r.non2xx, 0);
    const sqliteUpload = rate(uploads.get(targets[0]!)!.results, 100);
    const sqliteIngest = rate(ingests.get(targets[0]!)!, 100);
    for (const target of targets) {
      const upload = uploads.get(target)!.results;
      const ingest = ingests.get(target)!;
      rows.push({
        scenario: `postgres: POST /api/threats, 100 new IPs per batch, 8 in flight (${target.engine})`,
        perSecond: rate(upload, 100),
        unit: 'iocs/s',
        p50Ms: median(upload.map((r) => r.p50Ms)),
        p99Ms: median(upload.map((r) => r.p99Ms)),
        note: `${(rate(upload, 100) / sqliteUpload).toFixed(2)} of SQLite's rate; median of ${ROUNDS} rounds; failed requests ${failures(upload)}`,
      });
      rows.push({
        scenario: `postgres: event ingestion, 100-event batches (${target.engine})`,
        perSecond: rate(ingest, 100),
        unit: 'events/s',
        p50Ms: median(ingest.map((r) => r.p50Ms)),
        p99Ms: median(ingest.map((r) => r.p99Ms)),
        note: `${(rate(ingest, 100) / sqliteIngest).toFixed(2)} of SQLite's rate; median of ${ROUNDS} rounds; failed requests ${failures(ingest)}`,
      });
    }
    await server.stop('SIGTERM');
    return rows;
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
};
