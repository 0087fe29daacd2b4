import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTc, count, threat } from './fixtures.js';

const queries = (db: Parameters<typeof count>[0]) => (db.prepare(`SELECT count(*) AS n FROM tc_audit_log WHERE action = 'query'`).get() as { n: number }).n;

t.test('query audits are batched: written within a second, and on close', async (t) => {
  const tc = await buildTc(t);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.1')] } });
  t.equal(count(tc.db, 'tc_audit_log'), 1, 'the write is audited at once, in its transaction');
  await tc.inject({ url: '/api/iocs/198.51.100.1' });
  await tc.inject({ url: '/api/feeds/ip-blocklist' });
  t.equal(queries(tc.db), 0, 'reads wait in the buffer');
  await sleep(1200);
  t.equal(queries(tc.db), 2, 'flushed within a second');
  const entry = tc.db.prepare(`SELECT * FROM tc_audit_log WHERE resource = 'ioc'`).get() as { api_key: string; ip: string; details: string };
  t.equal(entry.api_key, 'tc-b…wxyz', 'keys appear as first 4 + last 4 characters only');
  t.equal(entry.ip, '127.0.0.1');
  await tc.inject({ url: '/api/stats' });
  await tc.app.close();
  t.equal(queries(tc.db), 3, 'pending entries are written on close');
  const all = JSON.stringify(tc.db.prepare(`SELECT * FROM tc_audit_log`).all());
  t.notOk(all.includes('tc-bootstrap-key-0123456789'), 'no key in the audit log');
});

t.test('a failed write leaves no audit entry; a failed batch stores nothing', async (t) => {
  const tc = await buildTc(t);
  const res = await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.1'), threat('127.0.0.1')] } });
  t.equal(res.statusCode, 400);
  t.equal(count(tc.db, 'tc_audit_log'), 0);
  t.equal(count(tc.db, 'iocs'), 0);
});
