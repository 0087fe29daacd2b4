import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { buildAuthApp } from '../../src/auth/app.js';
import { buildManagerApp } from '../../src/manager/app.js';
import { systemClock } from '../../src/shared/clock.js';
import { buildThreatCloudApp } from '../../src/threat-cloud/app.js';
import { authHeader, buildTestApp, tempDir, testConfig, testDb } from '../helper.js';
import { freePort } from '../process.js';

// Debian's `prometheus` package (installed by .ci/run) provides both programs.
const METRICS_TOKEN = 'prometheus-test-token-0123456789abcdefghij';
const TC_KEY = 'prometheus-test-tc-key-0123456789abcdefghijk';
const SERVICES = { auth: buildAuthApp, manager: buildManagerApp, 'threat-cloud': buildThreatCloudApp } as const;

async function startServices(t: Parameters<typeof testConfig>[0]) {
  const config = testConfig(t, { METRICS_ENABLED: 'true', METRICS_TOKEN, TC_API_KEYS: TC_KEY });
  const db = testDb(t, config);
  const apps = {} as Record<keyof typeof SERVICES, Awaited<ReturnType<typeof buildTestApp>>['app']>;
  for (const [name, build] of Object.entries(SERVICES)) {
    apps[name as keyof typeof SERVICES] = (await buildTestApp(t, build, { config, db, clock: systemClock })).app;
  }
  // Some traffic first, so the request counters and histograms have series.
  await apps.auth.inject({ url: '/api/auth/me' });
  await apps.manager.inject({ url: '/api/agents' });
  await apps['threat-cloud'].inject({ url: '/api/iocs/198.51.100.7', headers: authHeader(TC_KEY) });
  return apps;
}

t.test('promtool finds nothing to complain about in any service\'s /metrics', async (t) => {
  const apps = await startServices(t);
  for (const [name, app] of Object.entries(apps)) {
    const res = await app.inject({ url: '/metrics', headers: authHeader(METRICS_TOKEN) });
    t.equal(res.statusCode, 200, `${name} serves its metrics`);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.body, encoding: 'utf8' });
    t.equal(check.error, undefined, 'promtool runs (Debian package prometheus)');
    t.equal(`${check.stdout}${check.stderr}`.trim(), '', `${name}: promtool check metrics reports nothing`);
    t.equal(check.status, 0, `${name}: promtool exits 0`);
  }
});

/** Polls Prometheus's query API until `accept` takes the result, for at most `ms`. */
async function queryUntil(base: string, query: string, accept: (result: Array<{ metric: Record<string, string>; value: [number, string] }>) => boolean, ms: number) {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await res.json()) as { status: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      last = body;
      if (body.status === 'success' && body.data && accept(body.data.result)) return body.data.result;
    } catch (error) {
      last = error; // Not up yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`no acceptable answer to ${query} within ${ms} ms; last: ${JSON.stringify(last)}`);
}

t.test('a real Prometheus scrapes all three services and reads a histogram quantile back', async (t) => {
  const apps = await startServices(t);
  const targets: Record<string, string> = {};
  for (const [name, app] of Object.entries(apps)) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    targets[name] = `127.0.0.1:${(app.server.address() as { port: number }).port}`;
  }
  const dir = tempDir(t);
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(
    configFile,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      ...Object.entries(targets).flatMap(([name, target]) => [
        `  - job_name: ${name}`,
        '    authorization:',
        `      credentials: ${METRICS_TOKEN}`,
        '    static_configs:',
        `      - targets: ['${target}']`,
      ]),
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const prometheus = spawn('prometheus', [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=error'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  prometheus.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.teardown(async () => {
    prometheus.kill('SIGTERM');
    if (prometheus.exitCode === null) await new Promise((resolve) => prometheus.once('exit', resolve));
  });
  const base = `http://127.0.0.1:${port}`;

  const up = await queryUntil(base, 'up', (result) => result.length === 3 && result.every((series) => series.value[1] === '1'), 30_000).catch((error: Error) => {
    throw new Error(`${error.message}\nprometheus stderr: ${stderr}`);
  });
  t.same(up.map((series) => series.metric.job).sort(), ['auth', 'manager', 'threat-cloud'], 'every service is up');

  const quantile = await queryUntil(
    base,
    'histogram_quantile(0.99, sum by (job, le) (panguard_http_request_duration_seconds_bucket))',
    (result) => result.length === 3,
    15_000,
  );
  for (const series of quantile) {
    const seconds = Number(series.value[1]);
    t.ok(Number.isFinite(seconds) && seconds > 0, `${series.metric.job}: p99 request duration ${seconds} s read back from the histogram`);
  }
});
