import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { ManualClock } from '../../src/shared/clock.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { createAuditStore, QUERY_SAMPLES } from '../../src/threat-cloud/stores/audit.js';
import { createQueryAuditBuffer, queryKind, querySample } from '../../src/threat-cloud/services/query-audit.js';
import { bareStorageOn, buildThreatCloudOn, countIn, execute, onBothEngines, selectRows, threat } from './fixtures.js';
import { buildIntelHarnessOn, type IntelHarnessOn } from './intel/helper.js';

interface QueryRow {
  id: string;
  resource: string;
  api_key: string | null;
  ip: string | null;
  created_at: string;
  details: { count: number; samples: string[]; ips: string[] };
}

async function queryRows(storage: Storage): Promise<QueryRow[]> {
  const rows = await selectRows<QueryRow & { details: string }>(
    storage,
    `SELECT id, resource, api_key, ip, created_at, details FROM tc_audit_log WHERE action = 'query' ORDER BY created_at, api_key, resource`,
  );
  return rows.map((row) => ({ ...row, details: JSON.parse(row.details) as QueryRow['details'] }));
}
const masked = (key: string) => `${key.slice(0, 4)}…${key.slice(-4)}`;

/** Makes every insert into the audit log fail (each engine's own trigger), until `restore` is called. */
async function failAuditWrites(storage: Storage): Promise<{ restore(): Promise<void> }> {
  if (storage.engine === 'sqlite') {
    await execute(storage, `CREATE TRIGGER test_audit_fails BEFORE INSERT ON tc_audit_log BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END`);
    return { restore: async () => void (await execute(storage, `DROP TRIGGER test_audit_fails`)) };
  }
  await execute(storage, `CREATE FUNCTION test_audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit unavailable'; END $$`);
  await execute(storage, `CREATE TRIGGER test_audit_fails BEFORE INSERT ON tc_audit_log FOR EACH ROW EXECUTE FUNCTION test_audit_fails()`);
  return { restore: async () => void (await execute(storage, `DROP TRIGGER test_audit_fails ON tc_audit_log`)) };
}

/** The audit log as an admin reads it (which writes pending read audits first). */
async function auditLog(h: IntelHarnessOn, query = 'action=query') {
  const res = await h.get(`/api/audit-log?${query}&limit=200`);
  if (res.statusCode !== 200) throw new Error(`audit log: ${res.statusCode} ${res.body}`);
  return res.json() as { data: Array<{ resource: string; details: QueryRow['details']; apiKey: string | null; timestamp: string }>; pagination: { total: number } };
}

async function report(h: IntelHarnessOn, values: string[]) {
  const res = await h.post('/api/threats', { threats: values.map((value) => threat(value)) });
  if (res.statusCode !== 201) throw new Error(`report: ${res.statusCode} ${res.body}`);
}

onBothEngines('query audits are batched: written within a second, and on close', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.1')] } });
  t.equal(await countIn(tc.storage, 'tc_audit_log'), 1, 'the write is audited at once, in its transaction');
  await tc.inject({ url: '/api/iocs/198.51.100.1' });
  await tc.inject({ url: '/api/feeds/ip-blocklist' });
  t.equal((await queryRows(tc.storage)).length, 0, 'reads wait in the buffer');
  await sleep(1200);
  t.same((await queryRows(tc.storage)).map((row) => [row.resource, row.details.count]), [['feeds', 1], ['iocs', 1]], 'flushed within a second, one entry per kind');
  const entry = (await queryRows(tc.storage)).find((row) => row.resource === 'iocs')!;
  t.equal(entry.api_key, 'tc-b…wxyz', 'keys appear as first 4 + last 4 characters only');
  t.equal(entry.ip, '127.0.0.1');
  t.same(entry.details.samples, ['ioc?type=ip&value=198.51.100.1&found=true'], 'what was asked');
  await tc.inject({ url: '/api/stats' });
  await tc.app.close();
  t.same((await queryRows(tc.storage)).map((row) => row.resource), ['feeds', 'iocs', 'stats'], 'pending reads are written on close');
  const all = JSON.stringify(await selectRows(tc.storage, `SELECT id, action, resource, details, api_key, ip, created_at FROM tc_audit_log`));
  t.notOk(all.includes('tc-bootstrap-key-0123456789'), 'no key in the audit log');
});

onBothEngines('a failed write leaves no audit entry; a failed batch stores nothing', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  const res = await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.1'), threat('127.0.0.1')] } });
  t.equal(res.statusCode, 400);
  t.equal(await countIn(tc.storage, 'tc_audit_log'), 0);
  t.equal(await countIn(tc.storage, 'iocs'), 0);
});

onBothEngines('a write whose audit entry cannot be stored stores nothing: upload, sighting, trap intel, status and rule', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.1')] } });
  const stored = async () => ({
    iocs: await countIn(tc.storage, 'iocs'),
    sightings: await countIn(tc.storage, 'sightings'),
    trapEvents: await countIn(tc.storage, 'trap_events'),
    rules: await countIn(tc.storage, 'tc_rules'),
    seq: (await selectRows<{ value: number }>(tc.storage, `SELECT value FROM tc_state WHERE name = 'seq'`))[0]?.value,
    status: (await selectRows<{ status: string }>(tc.storage, `SELECT status FROM iocs WHERE value = '198.51.100.1'`))[0]?.status,
    audit: await countIn(tc.storage, 'tc_audit_log'),
  });
  const before = await stored();
  // The audit entry is the last write of each of these transactions: everything before it must go too.
  const failing = await failAuditWrites(tc.storage);
  const writes = [
    { method: 'POST' as const, url: '/api/threats', payload: { threats: [threat('198.51.100.2'), threat('198.51.100.1')] } },
    { method: 'POST' as const, url: '/api/sightings', payload: { value: '198.51.100.1', source: 'fw' } },
    { method: 'POST' as const, url: '/api/trap-intel', payload: { trapId: 'trap-1', attackerIp: '203.0.113.7', honeypotType: 'ssh', payloads: ['b'.repeat(64)] } },
    { method: 'PUT' as const, url: '/api/iocs/198.51.100.1/status', payload: { status: 'revoked', reason: 'test' } },
    { method: 'POST' as const, url: '/api/rules', payload: { id: 'r1', name: 'Rule one', content: 'title: one' } },
  ];
  for (const write of writes) {
    const res = await tc.inject(write);
    t.equal(res.statusCode, 500, `${write.method} ${write.url} fails`);
    t.same(await stored(), before, `${write.method} ${write.url} left nothing behind`);
  }
  await failing.restore();
  const retried = await tc.inject(writes[0]!);
  t.equal(retried.statusCode, 201, 'the same upload succeeds once the trail can be written');
});

onBothEngines('an audit entry is refused in a transaction that would commit without a sync', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const audit = createAuditStore(storage, new ManualClock());
  const entry = { action: 'create' as const, resource: 'rule:r1', apiKey: null, ip: null };
  await t.rejects(storage.transaction({ durable: false }, (tx) => audit.record(tx, entry)), /not durable/);
  t.equal(await countIn(storage, 'tc_audit_log'), 0);
  await storage.transaction({ durable: true }, (tx) => audit.record(tx, entry));
  t.equal(await countIn(storage, 'tc_audit_log'), 1);
});

onBothEngines('1,000 lookups by one key in one minute are one entry with their count and a few samples', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await report(h, ['198.51.100.1', '198.51.100.2']);
  const statuses = new Set<number>();
  for (let i = 0; i < 1000; i += 1) {
    statuses.add((await h.get(`/api/iocs/198.51.100.${(i % 20) + 1}`)).statusCode);
    h.clock.advance(50); // 50 s in all: the same minute
  }
  t.same([...statuses], [200], 'every lookup answered');
  const log = await auditLog(h);
  t.equal(log.pagination.total, 1);
  t.equal(log.data.length, 1);
  const [entry] = log.data;
  t.equal(entry!.resource, 'iocs');
  t.equal(entry!.apiKey, masked(h.key));
  t.equal(entry!.timestamp, '2026-03-07T12:00:00.000Z', 'stamped with the start of its minute');
  t.equal(entry!.details.count, 1000);
  t.same(entry!.details.samples, [
    'ioc?type=ip&value=198.51.100.1&found=true',
    'ioc?type=ip&value=198.51.100.2&found=true',
    'ioc?type=ip&value=198.51.100.3&found=false',
    'ioc?type=ip&value=198.51.100.4&found=false',
    'ioc?type=ip&value=198.51.100.5&found=false',
  ], `the first ${QUERY_SAMPLES} distinct lookups`);
  t.same(entry!.details.ips, ['127.0.0.1']);
  t.equal((await queryRows(h.storage)).length, 1, 'one row stored');
});

onBothEngines('two keys are two entries; a new minute starts new entries', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  for (let i = 0; i < 3; i += 1) await h.get('/api/iocs/198.51.100.1');
  await h.get('/api/iocs/198.51.100.1', h.otherKey);
  h.clock.advance(60_000);
  await h.get('/api/iocs/198.51.100.1');
  await h.get('/api/iocs/198.51.100.1');
  await h.app.close();
  const rows = (await queryRows(h.storage)).map((row) => [row.created_at, row.api_key, row.resource, row.details.count]);
  t.same(
    rows.sort(),
    [
      ['2026-03-07T12:00:00.000Z', masked(h.key), 'iocs', 3],
      ['2026-03-07T12:00:00.000Z', masked(h.otherKey), 'iocs', 1],
      ['2026-03-07T12:01:00.000Z', masked(h.key), 'iocs', 2],
    ].sort(),
  );
});

onBothEngines('reads after a flush within the same minute add to the same entry; totals count it once', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await report(h, ['198.51.100.1']);
  for (let i = 0; i < 4; i += 1) await h.get('/api/iocs/198.51.100.1');
  let log = await auditLog(h);
  t.same(log.data.map((entry) => [entry.resource, entry.details.count]), [['iocs', 4]], 'the audit log flushes what is pending');
  h.clock.advance(20_000);
  for (let i = 0; i < 6; i += 1) await h.get('/api/iocs/198.51.100.9');
  await h.get('/api/feeds/ip-blocklist');
  log = await auditLog(h);
  t.equal(log.pagination.total, 2, 'the total counts each entry once');
  const iocs = log.data.find((entry) => entry.resource === 'iocs')!;
  t.equal(iocs.details.count, 10, 'counts summed into the first row');
  t.same(iocs.details.samples, ['ioc?type=ip&value=198.51.100.1&found=true', 'ioc?type=ip&value=198.51.100.9&found=false']);
  t.equal((await queryRows(h.storage)).length, 2);
  t.equal((await auditLog(h, '')).pagination.total, 3, 'with the write: every entry once');
  const hours = (await selectRows<{ n: number }>(h.storage, `SELECT n FROM tc_audit_hours WHERE action = 'query'`)).map((row) => row.n);
  t.same(hours, [2], 'the hourly count saw two inserts, not the update');
});

onBothEngines('every read is counted under its kind', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const reads = [
    '/api/iocs/198.51.100.1', '/api/iocs', '/api/sightings?value=198.51.100.1', '/api/feeds/ip-blocklist', '/api/feeds/domain-blocklist',
    '/api/feeds/iocs', '/api/feeds/stix', '/api/feeds/agent-update', '/api/campaigns', '/api/campaigns/stats', '/api/campaigns/campaign_x',
    '/api/query/geo', '/api/query/trends', '/api/stats',
  ];
  for (const url of reads) t.ok((await h.get(url)).statusCode < 500, url);
  const counts = Object.fromEntries((await auditLog(h)).data.map((entry) => [entry.resource, entry.details.count]));
  t.same(counts, { iocs: 2, sightings: 1, feeds: 5, campaigns: 3, query: 2, stats: 1 });
});

t.test('resources map to kinds; samples are bounded', async (t) => {
  const kinds = {
    ioc: 'iocs', iocs: 'iocs', sightings: 'sightings', 'ip-blocklist': 'feeds', 'domain-blocklist': 'feeds', 'feeds/iocs': 'feeds',
    'feeds/stix': 'feeds', 'feeds/agent-update': 'feeds', campaigns: 'campaigns', 'campaigns/stats': 'campaigns', campaign: 'campaigns',
    'query/timeseries': 'query', 'query/geo': 'query', 'query/trends': 'query', 'query/mitre-heatmap': 'query', stats: 'stats',
  };
  for (const [resource, kind] of Object.entries(kinds)) t.equal(queryKind(resource), kind, resource);
  t.equal(queryKind('something-new'), 'query', 'an unknown read still counts, as a query');
  t.equal(querySample('stats', {}), 'stats');
  t.equal(querySample('ip-blocklist', { threshold: 30, category: null }), 'ip-blocklist?threshold=30', 'absent filters are left out');
  const long = querySample('ioc', { type: 'domain', value: `${'a'.repeat(2000)}.example` });
  t.equal(long.length, 200, 'a sample is at most 200 characters');
  t.ok(long.endsWith('…'));
});

onBothEngines('a flood of distinct actors flushes early; anonymous reads count per client IP', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock();
  const audit = createAuditStore(storage, clock);
  const buffer = createQueryAuditBuffer(audit, clock, pino({ level: 'silent' }), { maxOpen: 3 });
  const read = (ip: string) => buffer.push({ resource: 'ioc', details: { value: ip }, apiKey: null, ip });
  read('192.0.2.1');
  read('192.0.2.1');
  read('192.0.2.2');
  read('192.0.2.3');
  t.equal(await countIn(storage, 'tc_audit_log'), 0, 'three open entries fit');
  read('192.0.2.4');
  t.equal(buffer.pendingCount, 1, 'a fourth actor takes the open three out for writing');
  // The early flush is a transaction of its own, which the read does not wait for (on
  // PostgreSQL it takes round trips): wait for it, a bounded number of turns.
  for (let turn = 0; turn < 500 && (await countIn(storage, 'tc_audit_log')) < 3; turn += 1) await sleep(10);
  t.equal(await countIn(storage, 'tc_audit_log'), 3, 'a fourth actor writes the open three first');
  read('192.0.2.1');
  await buffer.stop();
  const rows = (await queryRows(storage)).map((row) => [row.ip, row.api_key, row.details.count]);
  t.same(rows.sort(), [['192.0.2.1', null, 3], ['192.0.2.2', null, 1], ['192.0.2.3', null, 1], ['192.0.2.4', null, 1]].sort(), 'an early flush still adds up per minute');
  t.equal(buffer.pendingCount, 0);
});

onBothEngines('a key read from several addresses keeps the first as its IP and up to five in details', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock();
  const buffer = createQueryAuditBuffer(createAuditStore(storage, clock), clock, pino({ level: 'silent' }));
  for (let i = 1; i <= 7; i += 1) buffer.push({ resource: 'stats', details: {}, apiKey: 'pgk_…abcd', ip: `192.0.2.${i}` });
  await buffer.flush();
  buffer.push({ resource: 'stats', details: {}, apiKey: 'pgk_…abcd', ip: '192.0.2.99' });
  await buffer.flush();
  const [row] = await queryRows(storage);
  t.equal(row!.ip, '192.0.2.1');
  t.same(row!.details, { count: 8, samples: ['stats'], ips: ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5'] });
  t.equal((await queryRows(storage)).length, 1);
});

onBothEngines('the audit log lists, filters and totals writes next to aggregated reads', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  await report(h, ['198.51.100.1']);
  await h.get('/api/iocs/198.51.100.1');
  const creates = await auditLog(h, 'action=create');
  t.same([creates.pagination.total, creates.data.length], [1, 1]);
  h.clock.advance(60_000);
  await h.get('/api/iocs/198.51.100.1');
  const since = await auditLog(h, 'since=2026-03-07T12:00:30.000Z');
  t.same(since.data.map((entry) => [entry.resource, entry.timestamp]), [['iocs', '2026-03-07T12:01:00.000Z']], 'entries of minutes after since');
  t.equal(since.pagination.total, 1);
  t.equal((await auditLog(h, '')).pagination.total, 3);
});
