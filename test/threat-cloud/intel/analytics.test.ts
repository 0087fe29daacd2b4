import { DAY, HOUR, buildIntelHarnessOn, report } from './helper.js';
import { onBothEngines, selectRows } from '../../engines.js';

const at = (iso: string) => Date.parse(iso);

onBothEngines('/api/query/* needs the solo tier or higher and a key', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const community = await h.userKey('community');
  const solo = await h.userKey('solo');
  for (const path of ['timeseries', 'geo', 'trends', 'mitre-heatmap']) {
    const denied = await h.get(`/api/query/${path}`, community);
    t.equal(denied.statusCode, 403, path);
    t.same(denied.json(), { ok: false, error: 'This endpoint requires the solo tier or higher', code: 'FORBIDDEN' });
    t.equal((await h.get(`/api/query/${path}`, solo)).statusCode, 200, `${path} for solo`);
    t.equal((await h.app.inject({ method: 'GET', url: `/api/query/${path}` })).statusCode, 401);
  }
});

onBothEngines('timeseries: every bucket from now − period to now, counts by first report and by report', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  h.clock.set(at('2026-03-04T12:00:00.000Z'));
  await report(h, [{ type: 'ip', value: '198.51.100.1', category: 'bruteforce' }]);
  h.clock.set(at('2026-03-06T10:00:00.000Z'));
  await report(h, [{ type: 'domain', value: 'phish.example.com', category: 'phishing' }, { type: 'ip', value: '198.51.100.1', category: 'bruteforce' }]);
  h.clock.set(at('2026-03-07T12:00:00.000Z'));
  await report(h, [{ type: 'ip', value: '203.0.113.9', category: 'bruteforce' }]);

  const byDay = (await h.get('/api/query/timeseries?granularity=day&period=7d')).json().data;
  t.equal(byDay.granularity, 'day');
  t.equal(byDay.period, '7d');
  t.equal(byDay.series.length, 8, '7d by day: 8 buckets');
  t.same(byDay.series[0], { timestamp: '2026-02-28T00:00:00.000Z', newIocs: 0, sightings: 0 });
  const day = (iso: string) => byDay.series.find((b: { timestamp: string }) => b.timestamp === iso);
  t.same(day('2026-03-04T00:00:00.000Z'), { timestamp: '2026-03-04T00:00:00.000Z', newIocs: 1, sightings: 1 });
  t.same(day('2026-03-06T00:00:00.000Z'), { timestamp: '2026-03-06T00:00:00.000Z', newIocs: 1, sightings: 2 });
  t.same(day('2026-03-07T00:00:00.000Z'), { timestamp: '2026-03-07T00:00:00.000Z', newIocs: 1, sightings: 1 });
  t.equal(byDay.series.reduce((n: number, b: { newIocs: number }) => n + b.newIocs, 0), 3);

  const defaults = (await h.get('/api/query/timeseries')).json().data;
  t.same(defaults, byDay, 'day and 7d are the defaults');

  const ips = (await h.get('/api/query/timeseries?type=ip')).json().data.series;
  t.same(ips.filter((b: { sightings: number }) => b.sightings > 0).map((b: { timestamp: string; newIocs: number; sightings: number }) => [b.timestamp.slice(0, 10), b.newIocs, b.sightings]), [
    ['2026-03-04', 1, 1],
    ['2026-03-06', 0, 1],
    ['2026-03-07', 1, 1],
  ]);
  const phishing = (await h.get('/api/query/timeseries?category=phishing')).json().data.series;
  t.same(phishing.filter((b: { sightings: number }) => b.sightings > 0).map((b: { timestamp: string }) => b.timestamp), ['2026-03-06T00:00:00.000Z']);

  const byHour = (await h.get('/api/query/timeseries?granularity=hour&period=24h')).json().data.series;
  t.equal(byHour.length, 25);
  t.equal(byHour[0].timestamp, '2026-03-06T12:00:00.000Z');
  t.same(byHour.at(-1), { timestamp: '2026-03-07T12:00:00.000Z', newIocs: 1, sightings: 1 });
  t.equal(byHour.reduce((n: number, b: { sightings: number }) => n + b.sightings, 0), 1, '10:00 the day before is outside the window');

  const byWeek = (await h.get('/api/query/timeseries?granularity=week&period=30d')).json().data.series;
  t.same(byWeek.map((b: { timestamp: string }) => b.timestamp.slice(0, 10)), ['2026-02-02', '2026-02-09', '2026-02-16', '2026-02-23', '2026-03-02'], 'ISO weeks start on Monday');
  t.same(byWeek.at(-1), { timestamp: '2026-03-02T00:00:00.000Z', newIocs: 3, sightings: 4 });

  t.equal((await h.get('/api/query/timeseries?granularity=hour&period=90d')).json().data.series.length, 90 * 24 + 1);
  for (const bad of ['granularity=minute', 'period=1y', 'type=file', 'category=spam']) {
    t.equal((await h.get(`/api/query/timeseries?${bad}`)).statusCode, 400, bad);
  }
});

onBothEngines('geo: countries of IoCs seen in the period, percentages adding up to exactly 100', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  h.clock.advance(-10 * DAY);
  await report(h, [{ type: 'ip', value: '203.0.113.50', metadata: { country: 'JP' } }]);
  h.clock.advance(10 * DAY);
  await report(h, [
    { type: 'ip', value: '198.51.100.1', metadata: { country: 'US' } },
    { type: 'ip', value: '198.51.101.1', metadata: { country: 'US' } },
    { type: 'ip', value: '198.51.102.1', metadata: { country: 'US' } },
    { type: 'ip', value: '198.51.103.1', metadata: { country: 'DE' } },
    { type: 'ip', value: '198.51.104.1', metadata: { country: 'DE' } },
    { type: 'domain', value: 'bad.example.org', metadata: { country: 'FR' } },
  ]);
  const geo = (await h.get('/api/query/geo')).json().data;
  t.equal(geo.period, '7d');
  t.equal(geo.total, 6, 'the IoC last seen 10 days ago is outside 7d');
  t.same(geo.countries, [
    { code: 'US', name: 'United States', count: 3, percentage: 50 },
    { code: 'DE', name: 'Germany', count: 2, percentage: 33.3 },
    { code: 'FR', name: 'France', count: 1, percentage: 16.7 },
  ]);
  const limited = (await h.get('/api/query/geo?limit=1')).json().data;
  t.equal(limited.total, 6, 'total is taken before the limit');
  t.same(limited.countries.map((c: { code: string }) => c.code), ['US']);
  const month = (await h.get('/api/query/geo?period=30d')).json().data;
  t.equal(month.total, 7);
  t.equal(Math.round(month.countries.reduce((sum: number, c: { percentage: number }) => sum + c.percentage * 10, 0)), 1000);
  const domains = (await h.get('/api/query/geo?type=domain')).json().data;
  t.same(domains.countries, [{ code: 'FR', name: 'France', count: 1, percentage: 100 }]);
  for (const bad of ['limit=0', 'limit=251', 'period=12h', 'type=asn']) t.equal((await h.get(`/api/query/geo?${bad}`)).statusCode, 400, bad);
});

onBothEngines('trends: category rates against the previous period, and emerging IoCs by last-day reports', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const now = h.clock.now();
  const uploads = async (value: string, category: string, times: number) => {
    for (let i = 0; i < times; i++) await report(h, [{ type: 'ip', value, category }]);
  };
  // Previous period (7 to 14 days ago).
  h.clock.set(now - 10 * DAY);
  await uploads('198.51.100.10', 'bruteforce', 2);
  await uploads('198.51.100.20', 'scanner', 4);
  await uploads('198.51.100.40', 'malware', 10);
  await uploads('198.51.100.99', 'exploit', 1); // first seen outside the period
  // Current period.
  h.clock.set(now - 3 * DAY);
  await uploads('198.51.100.11', 'bruteforce', 5);
  await uploads('198.51.100.21', 'scanner', 2);
  await uploads('198.51.100.30', 'c2', 3);
  await uploads('198.51.100.41', 'malware', 11);
  h.clock.set(now - 2 * HOUR);
  await uploads('203.0.113.1', 'botnet', 10);
  await uploads('203.0.113.2', 'botnet', 2);
  await uploads('198.51.100.99', 'exploit', 12);
  h.clock.set(now);

  const data = (await h.get('/api/query/trends')).json().data;
  t.equal(data.periodDays, 7);
  const byCategory = Object.fromEntries(data.trends.map((trend: { category: string }) => [trend.category, trend]));
  t.match(byCategory.bruteforce, { direction: 'increasing', changePercent: 150, currentRate: 5, previousRate: 2 });
  t.match(byCategory.scanner, { direction: 'decreasing', changePercent: -50, currentRate: 2, previousRate: 4 });
  t.match(byCategory.c2, { direction: 'increasing', changePercent: 100, currentRate: 3, previousRate: 0 });
  t.match(byCategory.malware, { changePercent: 10 });
  t.match(byCategory.exploit, { direction: 'increasing', changePercent: 1100, currentRate: 12, previousRate: 1 });
  t.match(byCategory.botnet, { changePercent: 100, currentRate: 12, previousRate: 0 });
  t.match(byCategory.bruteforce.description, /bruteforce rose by 150\.0%/);
  const order = data.trends.map((trend: { changePercent: number }) => Math.abs(trend.changePercent));
  t.same(order, [...order].sort((a, b) => b - a), 'largest changes first');

  const strict = (await h.get('/api/query/trends?minChange=11')).json().data;
  t.notOk(strict.trends.some((trend: { category: string }) => trend.category === 'malware'), 'a 10 % change is below minChange 11');

  t.same(data.emergingThreats.slice(0, 2), [
    { indicator: '203.0.113.1', type: 'ip', firstSeen: new Date(now - 2 * HOUR).toISOString(), velocity: 'rapid', sightingsLast24h: 10 },
    { indicator: '203.0.113.2', type: 'ip', firstSeen: new Date(now - 2 * HOUR).toISOString(), velocity: 'steady', sightingsLast24h: 2 },
  ]);
  const indicators = data.emergingThreats.map((threat: { indicator: string }) => threat.indicator);
  t.notOk(indicators.includes('198.51.100.99'), 'first seen before the period: not emerging, however busy');
  t.ok(indicators.includes('198.51.100.11'), 'quiet new IoCs complete the list');
  t.ok(data.emergingThreats.length <= 10);

  const oneDay = (await h.get('/api/query/trends?periodDays=1')).json().data;
  t.same(oneDay.trends.map((trend: { category: string }) => trend.category).sort(), ['botnet', 'exploit']);

  for (const bad of ['periodDays=0', 'periodDays=91', 'minChange=-1', 'periodDays=abc']) t.equal((await h.get(`/api/query/trends?${bad}`)).statusCode, 400, bad);
});

onBothEngines('mitre-heatmap: IoCs per technique seen in the period, tactics summed, intensity relative to the top', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  h.clock.advance(-10 * DAY);
  await report(h, [{ type: 'ip', value: '198.51.100.60', metadata: { mitreIds: ['T1046'] } }]);
  h.clock.advance(10 * DAY);
  await report(h, [
    { type: 'ip', value: '198.51.100.1', metadata: { mitreIds: ['T1110', 'T1046'] } },
    { type: 'ip', value: '198.51.100.2', metadata: { mitreIds: ['T1110'] } },
    { type: 'ip', value: '198.51.100.3', metadata: { mitreIds: ['T1110.001'] } },
    { type: 'ip', value: '198.51.100.4', metadata: { mitreId: 'T1059' } },
    { type: 'ip', value: '198.51.100.5', metadata: { mitreIds: ['T9999'] } },
  ]);
  const week = (await h.get('/api/query/mitre-heatmap')).json().data;
  t.equal(week.period, '7d');
  t.same(week.techniques, [
    { id: 'T1110', name: 'Brute Force', tactic: 'Credential Access', tactics: ['Credential Access'], count: 2, intensity: 'critical' },
    { id: 'T1046', name: 'Network Service Discovery', tactic: 'Discovery', tactics: ['Discovery'], count: 1, intensity: 'high' },
    { id: 'T1059', name: 'Command and Scripting Interpreter', tactic: 'Execution', tactics: ['Execution'], count: 1, intensity: 'high' },
    { id: 'T1110.001', name: 'Password Guessing', tactic: 'Credential Access', tactics: ['Credential Access'], count: 1, intensity: 'high' },
    { id: 'T9999', name: null, tactic: null, tactics: [], count: 1, intensity: 'high' },
  ]);
  t.same(week.tactics, { 'Credential Access': 3, Discovery: 1, Execution: 1 }, 'an unknown id counts for no tactic');

  const month = (await h.get('/api/query/mitre-heatmap?period=30d')).json().data;
  t.match(month.techniques[0], { id: 'T1046', count: 2, intensity: 'critical' });
  t.match(month.techniques[1], { id: 'T1110', count: 2, intensity: 'critical' });

  // Merged metadata adds techniques to an existing IoC.
  await report(h, [{ type: 'ip', value: '198.51.100.4', metadata: { mitreIds: ['T1078'] } }]);
  const merged = (await h.get('/api/query/mitre-heatmap')).json().data;
  t.match(merged.techniques.find((x: { id: string }) => x.id === 'T1078'), { count: 1, tactic: 'Defense Evasion', tactics: ['Defense Evasion', 'Persistence', 'Privilege Escalation', 'Initial Access'] });
  t.equal(merged.tactics.Persistence, 1, 'a technique counts for each of its tactics');

  t.equal((await h.get('/api/query/mitre-heatmap?period=24h')).statusCode, 400);
});

onBothEngines('analytics reads are audited as query entries', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await h.get('/api/query/geo?limit=5');
  await h.get('/api/query/trends');
  await h.app.close();
  const rows = await selectRows<{ resource: string; details: string }>(h.storage, `SELECT resource, details FROM tc_audit_log WHERE action = 'query' ORDER BY resource`);
  t.same(rows.map((row) => row.resource), ['query'], 'one entry for the key, kind and minute');
  t.same(JSON.parse(rows[0]!.details), { count: 2, samples: ['query/geo?limit=5&period=7d', 'query/trends?periodDays=7&minChange=10'], ips: ['127.0.0.1'] });
});
