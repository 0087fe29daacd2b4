/**
 * U+0000 in a request: PostgreSQL cannot hold it in text at all, SQLite would store it. One
 * answer on both engines — 400 in the envelope, nothing stored — so a client never learns
 * which engine a deployment runs on, and a crafted string never becomes a 500.
 */
import { countIn, onBothEngines } from '../engines.js';
import { buildAuthOn, register } from '../auth/fixtures.js';
import { buildManagerOn, OPERATOR, register as registerAgent } from '../manager/fixtures.js';
import { buildThreatCloudOn } from '../threat-cloud/fixtures.js';

const REFUSED = { ok: false, error: 'Text may not contain the NUL character (U+0000)', code: 'NUL_CHARACTER' };

onBothEngines('a NUL character in a body is refused before anything is stored', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  const rule = await tc.inject({ method: 'POST', url: '/api/rules', payload: { id: 'r-1', name: 'rule', content: 'a\u0000b' } });
  t.equal(rule.statusCode, 400, rule.body);
  t.same(rule.json(), REFUSED);
  t.equal(await countIn(tc.storage, 'tc_rules'), 0, 'no rule stored');
  const threat = await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [{ type: 'domain', value: 'nul.example.com', source: 's\u0000', category: 'phishing' }] } });
  t.equal(threat.statusCode, 400, threat.body);
  t.equal(await countIn(tc.storage, 'iocs'), 0, 'no IoC stored');

  const auth = await buildAuthOn(t, engine);
  const account = await register(auth.app);
  const token = await auth.app.inject({ method: 'POST', url: '/api/auth/enroll-tokens', headers: account.headers, payload: { name: 'x\u0000' } });
  t.equal(token.statusCode, 400, token.body);
  t.same(token.json(), REFUSED);
  t.equal(await countIn(auth.storage, 'enroll_tokens'), 0, 'no enrolment token stored');

  const manager = await buildManagerOn(t, engine);
  const agent = await registerAgent(manager.app, { hostname: 'web-01' });
  const events = await manager.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [{ type: 'port_scan', severity: 'low', details: { note: '\u0000' } }] } });
  t.equal(events.statusCode, 400, events.body);
  t.equal(await countIn(manager.storage, 'threat_events'), 0, 'no event stored');
});

onBothEngines('an escaped backslash before u0000 is plain text, not a NUL', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  const payload = '{"id":"r-1","name":"rule","content":"C:\\\\u0000\\\\path"}';
  const rule = await tc.inject({ method: 'POST', url: '/api/rules', headers: { 'content-type': 'application/json' }, payload });
  t.equal(rule.statusCode, 201, rule.body);
  // A backslash, then the escape of a NUL: refused.
  const both = '{"id":"r-2","name":"rule","content":"C:\\\\\\u0000"}';
  const refused = await tc.inject({ method: 'POST', url: '/api/rules', headers: { 'content-type': 'application/json' }, payload: both });
  t.equal(refused.statusCode, 400, refused.body);
  t.same(refused.json(), REFUSED);
  t.equal(await countIn(tc.storage, 'tc_rules'), 1, 'only the first rule stored');
});

onBothEngines('a NUL character in a query or a path is refused as well', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  for (const url of ['/api/iocs?q=%00', '/api/iocs?search=a%00b', '/api/iocs/1.2.3.4%00', '/api/threats/sightings?value=%00']) {
    const res = await tc.inject({ url });
    t.equal(res.statusCode, 400, `${url}: ${res.body}`);
    t.same(res.json(), REFUSED, url);
  }
  const manager = await buildManagerOn(t, engine);
  for (const url of ['/api/agents?search=%00', '/api/threats?type=%00', '/api/agents/%00']) {
    const res = await manager.app.inject({ url, headers: OPERATOR });
    t.equal(res.statusCode, 400, `${url}: ${res.body}`);
    t.same(res.json(), REFUSED, url);
  }
});
