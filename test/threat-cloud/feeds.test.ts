import fc from 'fast-check';
import { ManualClock } from '../../src/shared/clock.js';
import { DAY_MS } from '../../src/shared/time.js';
import { seedIocs } from '../../src/threat-cloud/seed.js';
import { buildThreatCloud, copyIntoPostgres, countIn, onBothEngines, operatorKeyOn, threat } from './fixtures.js';
import { selectRows, storageOn } from '../engines.js';
import { testConfig, testDb } from '../helper.js';

type Tc = Awaited<ReturnType<typeof buildThreatCloud>>;

/** Puts an IP on the default blocklist: two independent reporters, critical. */
async function listIp(tc: Tc, ip: string, second: string, extra: Record<string, unknown> = {}) {
  for (const key of [undefined, second]) {
    const res = await tc.inject({ method: 'POST', url: '/api/threats', ...(key ? { key } : {}), payload: { threats: [threat(ip, { severity: 'critical', confidence: 1, ...extra })] } });
    if (res.statusCode !== 201) throw new Error(res.body);
  }
}

const blocklistLines = (body: string) => body.split('\n').filter((line) => line !== '' && !line.startsWith('#'));

onBothEngines('text blocklists: header, most malicious first, category filter, excluded statuses', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const second = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['read', 'write'])).key;
  await listIp(tc, '198.51.100.1', second, { category: 'c2' });
  tc.clock.advance(1000);
  await listIp(tc, '198.51.100.2', second, { category: 'scanner', confidence: 0.9 });
  await listIp(tc, '198.51.100.3', second, { category: 'c2' });
  await listIp(tc, '198.51.100.4', second);
  await listIp(tc, '198.51.100.5', second);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.6', { severity: 'critical' })] } });
  await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.4/status', payload: { status: 'whitelisted', reason: 'fp' } });
  await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.5/status', payload: { status: 'revoked', reason: 'fp' } });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [{ type: 'domain', value: 'bad.example', source: 's', severity: 'critical', confidence: 1 }] } });
  await tc.inject({ method: 'POST', url: '/api/threats', key: second, payload: { threats: [{ type: 'domain', value: 'bad.example', source: 's', severity: 'critical', confidence: 1 }] } });

  let res = await tc.inject({ url: '/api/feeds/ip-blocklist' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain/);
  const lines = res.body.split('\n');
  t.equal(lines[0], '# Panguard AI IP Blocklist');
  t.equal(lines[1], '# Generated: 2026-03-07T12:00:01.000Z');
  t.equal(lines[2], '# Total: 3 IPs');
  // .3 and .1 share the top score; .3 was seen last, so it comes first; .2 (confidence 0.9) is less malicious.
  t.same(blocklistLines(res.body), ['198.51.100.3', '198.51.100.1', '198.51.100.2']);
  res = await tc.inject({ url: '/api/feeds/ip-blocklist?category=c2' });
  t.same(blocklistLines(res.body), ['198.51.100.3', '198.51.100.1']);
  t.match(res.body, /# Total: 2 IPs/);
  res = await tc.inject({ url: '/api/feeds/ip-blocklist?minReputation=100' });
  t.same(blocklistLines(res.body).sort(), ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.6'], 'threshold raised; whitelisted and revoked never listed');
  res = await tc.inject({ url: '/api/feeds/ip-blocklist?maxReputation=0' });
  t.same(blocklistLines(res.body), []);
  t.match(res.body, /# Total: 0 IPs/);
  res = await tc.inject({ url: '/api/feeds/domain-blocklist' });
  t.match(res.body, /^# Panguard AI Domain Blocklist\n/);
  t.same(blocklistLines(res.body), ['bad.example']);
  t.equal((await tc.inject({ url: '/api/feeds/ip-blocklist?category=spam' })).statusCode, 400);
  t.equal((await tc.inject({ url: '/api/feeds/ip-blocklist', key: null })).statusCode, 401);
});

onBothEngines('ETag, Last-Modified and 304 on every feed; a change invalidates', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.9')] } });
  const feeds = ['/api/feeds/ip-blocklist', '/api/feeds/domain-blocklist', '/api/feeds/iocs', '/api/feeds/agent-update', '/api/feeds/stix'];
  for (const [index, url] of feeds.entries()) {
    const first = await tc.inject({ url });
    const etag = first.headers.etag as string;
    t.ok(etag, `${url} has an ETag`);
    t.ok(first.headers['last-modified']);
    const again = await tc.inject({ url, headers: { 'if-none-match': etag } });
    t.equal(again.statusCode, 304, `${url} 304`);
    t.equal(again.body, '');
    const since = await tc.inject({ url, headers: { 'if-modified-since': first.headers['last-modified'] as string } });
    t.equal(since.statusCode, 304, `${url} 304 by date`);
    const otherQuery = await tc.inject({ url: `${url}?type=ip`.replace('blocklist?type=ip', 'blocklist?category=c2').replace('agent-update?type=ip', 'agent-update?currentVersion=v0'), headers: { 'if-none-match': etag } });
    t.equal(otherQuery.statusCode, 200, `${url}: another query is another representation`);
    tc.clock.advance(1000);
    await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.9/status', payload: { status: index % 2 === 0 ? 'revoked' : 'active', reason: 'x' } });
    const changed = await tc.inject({ url, headers: { 'if-none-match': etag } });
    t.equal(changed.statusCode, 200, `${url} changes on the next request after a status change`);
    t.not(changed.headers.etag, etag);
  }
});

onBothEngines('JSON feed: fields, removed, maxReputation, cursor', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const second = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['read', 'write'])).key;
  await listIp(tc, '198.51.100.1', second);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.2', { metadata: { ports: [80] } }), { type: 'hash', value: 'b'.repeat(64), source: 's' }] } });
  await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.2/status', payload: { status: 'revoked', reason: 'fp' } });
  let res = await tc.inject({ url: '/api/feeds/iocs' });
  let feed = res.json().data;
  t.equal(feed.count, 3);
  t.same(feed.iocs.map((i: { value: string }) => i.value), ['198.51.100.1', 'b'.repeat(64)]);
  t.same(Object.keys(feed.iocs[0]).sort(), ['category', 'firstSeen', 'lastSeen', 'metadata', 'reputation', 'sightings', 'type', 'value']);
  t.same(feed.removed, [{ value: '198.51.100.2', type: 'ip' }]);
  res = await tc.inject({ url: '/api/feeds/iocs?maxReputation=30' });
  feed = res.json().data;
  t.same(feed.iocs.map((i: { value: string }) => i.value), ['198.51.100.1']);
  t.same(feed.removed.map((r: { value: string }) => r.value).sort(), ['198.51.100.2', 'b'.repeat(64)], 'above maxReputation counts as removed');
  res = await tc.inject({ url: `/api/feeds/iocs?cursor=${feed.nextCursor}` });
  t.same(res.json().data.count, 0, 'nothing after the end');
  t.equal(res.json().data.nextCursor, feed.nextCursor, 'an empty page keeps the position');
  res = await tc.inject({ url: '/api/feeds/iocs?type=hash' });
  t.same(res.json().data.iocs.map((i: { type: string }) => i.type), ['hash']);
  res = await tc.inject({ url: '/api/feeds/iocs?since=2030-01-01T00:00:00.000Z' });
  t.equal(res.json().data.count, 0);
  for (const bad of ['cursor=garbage', 'cursor=c1.xyz', 'limit=5001', 'limit=0', 'since=today']) {
    t.equal((await tc.inject({ url: `/api/feeds/iocs?${bad}` })).statusCode, 400, bad);
  }
  t.equal((await tc.inject({ url: '/api/feeds/iocs?cursor=garbage' })).json().error, 'cursor is invalid');
});

onBothEngines('property: cursor sync yields every change exactly once, in its latest state, under interleaved writes', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const pool = Array.from({ length: 30 }, (_, i) => `198.51.100.${i + 1}`);
  const op = fc.oneof(
    fc.record({ kind: fc.constant('upload' as const), ips: fc.uniqueArray(fc.constantFrom(...pool), { minLength: 1, maxLength: 5 }) }),
    fc.record({ kind: fc.constant('status' as const), ip: fc.constantFrom(...pool), status: fc.constantFrom('revoked', 'whitelisted', 'active') }),
    fc.record({ kind: fc.constant('page' as const), limit: fc.integer({ min: 1, max: 4 }) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
      // The consumer starts at the current end of the sequence.
      let cursor = (await tc.inject({ url: `/api/feeds/iocs?since=2100-01-01T00:00:00.000Z` })).json().data.nextCursor as string;
      // Values changed since their last delivery: each must be delivered exactly once more.
      const dirty = new Set<string>();
      const listed = new Map<string, boolean>();
      const consume = async (limit: number) => {
        const data = (await tc.inject({ url: `/api/feeds/iocs?limit=${limit}&cursor=${cursor}` })).json().data as {
          count: number; nextCursor: string; iocs: Array<{ value: string }>; removed: Array<{ value: string }>;
        };
        const items = [...data.iocs.map((i) => [i.value, true] as const), ...data.removed.map((i) => [i.value, false] as const)];
        if (items.length !== data.count) throw new Error('count is not iocs + removed');
        for (const [value, isListed] of items) {
          if (!dirty.delete(value)) throw new Error(`${value} delivered again without a change in between`);
          listed.set(value, isListed);
        }
        cursor = data.nextCursor;
        return data;
      };
      for (const step of ops) {
        tc.clock.advance(1000);
        if (step.kind === 'upload') {
          await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: step.ips.map((ip) => threat(ip)) } });
          step.ips.forEach((ip) => dirty.add(ip));
        } else if (step.kind === 'status') {
          const res = await tc.inject({ method: 'PUT', url: `/api/iocs/${step.ip}/status`, payload: { status: step.status, reason: 'test' } });
          if (res.statusCode === 200) dirty.add(step.ip);
        } else {
          await consume(step.limit);
        }
      }
      while ((await consume(3)).count > 0);
      if (dirty.size !== 0) throw new Error(`missed: ${[...dirty].join(',')}`);
      for (const [value, isListed] of listed) {
        const [row] = await selectRows<{ status: string }>(tc.storage, `SELECT status FROM iocs WHERE value = ?`, [value]);
        if ((row!.status === 'active') !== isListed) throw new Error(`${value} delivered in a stale state`);
      }
    }),
    { numRuns: 25 },
  );
  t.pass();
});

onBothEngines('agent update: versions v<seq>, deltas, rules upsert and delete', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const second = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['read', 'write'])).key;
  const reader = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['read'])).key;
  let res = await tc.inject({ method: 'POST', url: '/api/rules', key: reader, payload: { id: 'r1', name: 'R1', content: 'x' } });
  t.equal(res.statusCode, 403);
  res = await tc.inject({ method: 'POST', url: '/api/rules', payload: { id: 'r1', name: 'Rule one', content: 'title: one' } });
  t.equal(res.statusCode, 201);
  res = await tc.inject({ method: 'POST', url: '/api/rules', payload: { id: 'r2', name: 'Rule two', content: 'title: two' } });
  t.equal(res.statusCode, 201);
  t.equal((await tc.inject({ method: 'POST', url: '/api/rules', payload: { id: 'r3', name: 'big', content: 'x'.repeat(65_537) } })).statusCode, 400);
  await listIp(tc, '198.51.100.1', second);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [{ type: 'domain', value: 'bad.example', source: 's', severity: 'critical', confidence: 1 }, { type: 'hash', value: 'c'.repeat(64), source: 's', severity: 'critical', confidence: 1 }] } });
  await tc.inject({ method: 'POST', url: '/api/threats', key: second, payload: { threats: [{ type: 'domain', value: 'bad.example', source: 's', severity: 'critical', confidence: 1 }, { type: 'hash', value: 'c'.repeat(64), source: 's', severity: 'critical', confidence: 1 }] } });
  res = await tc.inject({ url: '/api/feeds/agent-update?agentId=agent-1' });
  t.equal(res.statusCode, 200);
  const full = res.json().data;
  t.match(full.version, /^v\d+$/);
  t.same(full.rules.atr.added.sort(), ['r1', 'r2']);
  t.same(full.rules.atr.files.map((f: { id: string }) => f.id).sort(), ['r1', 'r2']);
  t.same(full.iocs, { ipBlocklist: ['198.51.100.1'], domainBlocklist: ['bad.example'], hashBlocklist: ['c'.repeat(64)], removed: [] });
  t.same(full.config, { heartbeatInterval: 60, logLevel: 'info' });
  res = await tc.inject({ url: `/api/feeds/agent-update?currentVersion=${full.version}` });
  t.same(res.json().data, { version: full.version, rules: { atr: { added: [], updated: [], removed: [], files: [] } }, iocs: { ipBlocklist: [], domainBlocklist: [], hashBlocklist: [], removed: [] }, config: { heartbeatInterval: 60, logLevel: 'info' } }, 'nothing changed');

  tc.clock.advance(1000);
  res = await tc.inject({ method: 'POST', url: '/api/rules', payload: { id: 'r1', name: 'Rule one v2', content: 'title: one v2' } });
  t.equal(res.statusCode, 200, 'an update answers 200');
  t.equal((await tc.inject({ method: 'DELETE', url: '/api/rules/r2' })).statusCode, 200);
  t.equal((await tc.inject({ method: 'DELETE', url: '/api/rules/r2' })).statusCode, 404);
  await tc.inject({ method: 'POST', url: '/api/rules', payload: { id: 'r4', name: 'Rule four', content: 'four' } });
  await tc.inject({ method: 'PUT', url: '/api/iocs/bad.example/status', payload: { status: 'revoked', reason: 'fp' } });
  await listIp(tc, '198.51.100.2', second);
  res = await tc.inject({ url: `/api/feeds/agent-update?currentVersion=${full.version}` });
  const delta = res.json().data;
  t.ok(Number(delta.version.slice(1)) > Number(full.version.slice(1)));
  t.same(delta.rules.atr.added, ['r4']);
  t.same(delta.rules.atr.updated, ['r1']);
  t.same(delta.rules.atr.removed, ['r2']);
  t.same(delta.rules.atr.files.map((f: { id: string; content: string }) => `${f.id}:${f.content}`).sort(), ['r1:title: one v2', 'r4:four']);
  t.same(delta.iocs.ipBlocklist, ['198.51.100.2']);
  t.same(delta.iocs.domainBlocklist, []);
  t.same(delta.iocs.removed, [{ value: 'bad.example', type: 'domain' }]);
  res = await tc.inject({ url: '/api/feeds/agent-update?currentVersion=v999999' });
  t.same(res.json().data.iocs.ipBlocklist.sort(), ['198.51.100.1', '198.51.100.2'], 'an unknown future version gets a full update');
  t.equal((await tc.inject({ url: '/api/feeds/agent-update?currentVersion=latest' })).statusCode, 400);
  const audits = await selectRows(tc.storage, `SELECT action, resource FROM tc_audit_log WHERE resource LIKE 'rule:%' ORDER BY rowid`);
  t.same(audits, [
    { action: 'create', resource: 'rule:r1' }, { action: 'create', resource: 'rule:r2' }, { action: 'update', resource: 'rule:r1' },
    { action: 'delete', resource: 'rule:r2' }, { action: 'create', resource: 'rule:r4' },
  ]);
});

onBothEngines('STIX bundle: indicators with stable ids and patterns', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.42'), threat('2001:db8::7'), { type: 'hash', value: 'd'.repeat(64), source: 's' }, { type: 'url', value: "http://x.example/it's", source: 's' }] } });
  const first = (await tc.inject({ url: '/api/feeds/stix' })).json();
  t.equal(first.type, 'bundle');
  t.match(first.id, /^bundle--[0-9a-f-]{36}$/);
  const [identity, ...indicators] = first.objects as Array<Record<string, unknown>>;
  t.match(identity, { type: 'identity', spec_version: '2.1', name: 'Panguard Threat Cloud' }, 'the bundle names its creator first');
  const patterns = indicators.map((o) => o.pattern);
  t.same(patterns, ["[ipv4-addr:value = '198.51.100.42']", "[ipv6-addr:value = '2001:db8::7']", `[file:hashes.'SHA-256' = '${'d'.repeat(64)}']`, "[url:value = 'http://x.example/it\\'s']"]);
  for (const indicator of indicators) t.equal(indicator.created_by_ref, identity!.id, 'every indicator refers to the identity');
  t.match(indicators[0], { type: 'indicator', spec_version: '2.1', pattern_type: 'stix', valid_from: '2026-03-07T12:00:00.000Z' });
  t.equal(indicators[0]!.confidence, 100 - (await tc.inject({ url: '/api/iocs/198.51.100.42' })).json().data.reputation);
  const again = (await tc.inject({ url: '/api/feeds/stix' })).json();
  t.same(again.objects.map((o: { id: string }) => o.id), first.objects.map((o: { id: string }) => o.id), 'ids stable across exports');
  t.equal(again.id, first.id, 'an unchanged export is the same bundle');
  t.match(indicators[0]!.id, /^indicator--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

onBothEngines('decay refresh: hourly in SQL, change sequence only on crossing 30 or status, expiry after 90 days', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const second = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['read', 'write'])).key;
  await listIp(tc, '198.51.100.1', second);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.2', { severity: 'medium' })] } });
  const { refresh } = tc.jobs;
  const seqOf = async (ip: string) => (await selectRows<{ change_seq: number; reputation: number; status: string }>(tc.storage, `SELECT change_seq, reputation, status FROM iocs WHERE value = ?`, [ip]))[0]!;
  const start1 = await seqOf('198.51.100.1');
  const start2 = await seqOf('198.51.100.2');
  t.ok(start1.reputation <= 30);
  tc.clock.advance(2 * DAY_MS);
  let result = await refresh.run();
  t.equal(result.crossed, 0);
  t.ok(result.rescored >= 1, 'scores decayed');
  t.equal((await seqOf('198.51.100.2')).change_seq, start2.change_seq, 'a decay that crosses nothing does not enter the sequence');
  t.ok((await seqOf('198.51.100.2')).reputation > start2.reputation);
  const cursor = (await tc.inject({ url: '/api/feeds/iocs?since=2100-01-01T00:00:00.000Z' })).json().data.nextCursor;
  tc.clock.advance(30 * DAY_MS);
  result = await refresh.run();
  t.equal(result.crossed, 1);
  const crossed = await seqOf('198.51.100.1');
  t.ok(crossed.reputation > 30 && crossed.change_seq > start1.change_seq, 'crossing 30 enters the sequence');
  let feed = (await tc.inject({ url: `/api/feeds/iocs?cursor=${cursor}&maxReputation=30` })).json().data;
  t.same(feed.removed, [{ value: '198.51.100.1', type: 'ip' }], 'an incremental consumer learns it left the blocklist');
  t.same(blocklistLines((await tc.inject({ url: '/api/feeds/ip-blocklist' })).body), []);
  tc.clock.advance(59 * DAY_MS);
  result = await refresh.run();
  t.equal(result.expired, 2, 'no sighting for 90 days: expired');
  t.equal((await seqOf('198.51.100.2')).status, 'expired');
  feed = (await tc.inject({ url: `/api/feeds/iocs?cursor=${feed.nextCursor}` })).json().data;
  t.same(feed.removed.map((r: { value: string }) => r.value).sort(), ['198.51.100.1', '198.51.100.2']);
  t.equal((await tc.inject({ url: '/health', key: null })).json().data.iocs, 0);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.2')] } });
  t.equal((await seqOf('198.51.100.2')).status, 'active', 'expired → active on a new report');
  t.equal(await countIn(tc.storage, 'iocs'), 2);
});

onBothEngines('a JSON feed page larger than one read chunk is the same unbroken run of the change sequence', async (t, engine) => {
  // The rows are generated by SQLite's own SQL, then served from that file or from its PostgreSQL copy.
  const seeded = testDb(t, testConfig(t));
  seedIocs(seeded, { count: 1_300, now: new ManualClock().now(), childRows: false });
  const storage = await storageOn(engine);
  if (storage) await copyIntoPostgres(t, storage, seeded);
  const tc = await buildThreatCloud(t, storage ? { storage } : { db: seeded });
  const expected = (await selectRows<{ value: string }>(tc.storage, `SELECT value FROM iocs ORDER BY change_seq`)).map((row) => row.value);
  const first = (await tc.inject({ url: '/api/feeds/iocs?limit=1200' })).json().data;
  t.equal(first.count, 1200);
  t.same(first.iocs.map((ioc: { value: string }) => ioc.value), expected.slice(0, 1200), 'in sequence order, nothing skipped or repeated across chunks');
  const rest = (await tc.inject({ url: `/api/feeds/iocs?limit=1200&cursor=${first.nextCursor}` })).json().data;
  t.same(rest.iocs.map((ioc: { value: string }) => ioc.value), expected.slice(1200), 'the cursor continues after the last row of the page');
});
