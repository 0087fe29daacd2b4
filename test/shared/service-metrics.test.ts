import { buildAuthApp } from '../../src/auth/app.js';
import { buildManagerApp } from '../../src/manager/app.js';
import { buildThreatCloudApp } from '../../src/threat-cloud/app.js';
import { ManualClock } from '../../src/shared/clock.js';
import { borrowed, onBothEngines, storageOn } from '../engines.js';
import { authHeader, buildTestApp, testConfig, testDb, TEST_SECRETS } from '../helper.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdefghijklmnop';
const TC_KEY = 'metrics-test-tc-key-0123456789abcdefghijklmnop';

function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(match[3]);
  }
  return undefined;
}

onBothEngines('each service serves its own gauges next to the request metrics', async (t, engine) => {
  const config = testConfig(t, { METRICS_ENABLED: 'true', METRICS_TOKEN, TC_API_KEYS: TC_KEY, RATE_LIMIT_SCALE: '100' });
  const db = testDb(t, config);
  const clock = new ManualClock();
  // The three services over one database, as in the process; the Manager closes a PostgreSQL pool.
  const storage = await storageOn(engine);
  const on = (own: boolean) => (storage ? { storage: own ? storage : borrowed(storage) } : { db });
  const { app: manager } = await buildTestApp(t, buildManagerApp, { config, clock, ...on(true) });
  const { app: threatCloud } = await buildTestApp(t, buildThreatCloudApp, { config, clock, ...on(false) });
  const { app: auth } = await buildTestApp(t, buildAuthApp, { config, clock, ...on(false) });
  const scrape = async (app: typeof manager) => {
    const res = await app.inject({ url: '/metrics', headers: authHeader(METRICS_TOKEN) });
    t.equal(res.statusCode, 200);
    return res.body;
  };

  const operator = authHeader(TEST_SECRETS.managerAuthToken);
  for (const hostname of ['a', 'b']) {
    await manager.inject({ method: 'POST', url: '/api/agents/register', headers: operator, payload: { hostname, os: 'linux', version: '1' } });
  }
  clock.advance(config.manager.offlineTimeoutMs + 1);
  await manager.inject({ method: 'POST', url: '/api/agents/register', headers: operator, payload: { hostname: 'c', os: 'linux', version: '1' } });
  const managerMetrics = await scrape(manager);
  t.equal(sample(managerMetrics, 'panguard_agents', { status: 'online' }), 1);
  t.equal(sample(managerMetrics, 'panguard_agents', { status: 'offline' }), 2);
  t.equal(sample(managerMetrics, 'panguard_sse_clients'), 0);
  t.ok((sample(managerMetrics, 'panguard_database_size_bytes') ?? 0) > 0, 'database size reported');
  t.equal(sample(managerMetrics, 'panguard_http_requests_total', { route: '/api/agents/register', status_code: '201' }), 3);

  await threatCloud.inject({ method: 'POST', url: '/api/threats', headers: authHeader(TC_KEY), payload: { threats: [{ type: 'domain', value: 'a.example.com', source: 's' }, { type: 'domain', value: 'b.example.com', source: 's' }] } });
  await threatCloud.inject({ method: 'PUT', url: '/api/iocs/b.example.com/status', headers: authHeader(TC_KEY), payload: { status: 'whitelisted', reason: 'ours' } });
  const tcMetrics = await scrape(threatCloud);
  t.equal(sample(tcMetrics, 'panguard_iocs', { status: 'active' }), 1);
  t.equal(sample(tcMetrics, 'panguard_iocs', { status: 'whitelisted' }), 1);

  await auth.inject({ url: '/api/auth/me' });
  const authMetrics = await scrape(auth);
  t.equal(sample(authMetrics, 'panguard_http_requests_total', { service: 'auth', route: '/api/auth/me', status_code: '401' }), 1);
  t.notMatch(authMetrics, /panguard_agents\{/, 'gauges stay with their service');
});
