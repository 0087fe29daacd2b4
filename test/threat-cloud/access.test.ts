import { createApiKeyStore } from '../../src/shared/api-keys.js';
import { monthPeriod, quotaExceededMessage } from '../../src/shared/tiers.js';
import { createUsageStore } from '../../src/shared/usage.js';
import { tierLimits } from '../../src/threat-cloud/access.js';
import { syncBootstrapKeys } from '../../src/threat-cloud/services/bootstrap-keys.js';
import { ADMIN, BOOTSTRAP_KEY, buildThreatCloud, countIn, onBothEngines, operatorKeyOn, threat, userKeyOn } from './fixtures.js';
import { execute, selectRows, storageOn } from '../engines.js';
import { testConfig } from '../helper.js';

onBothEngines('401 without a key or with a wrong or revoked one', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  let res = await tc.inject({ url: '/api/iocs', key: null });
  t.equal(res.statusCode, 401);
  t.same(res.json(), { ok: false, error: 'API key required', code: 'UNAUTHORIZED' });
  res = await tc.inject({ url: '/api/iocs', key: 'pgk_wrongwrongwrongwrongwrongwrongwrongwrong' });
  t.equal(res.statusCode, 401);
  t.equal(res.json().error, 'Invalid API key');
  res = await tc.inject({ url: '/api/iocs', headers: { authorization: 'Basic abc' }, key: null });
  t.equal(res.json().error, 'Invalid API key');
  const { record, key } = await operatorKeyOn(tc.storage, tc.clock, 'pro', ['read']);
  t.equal((await tc.inject({ url: '/api/iocs', key })).statusCode, 200);
  t.equal((await tc.inject({ method: 'DELETE', url: `/api/admin/keys/${record.id}`, headers: ADMIN, key: null })).statusCode, 200);
  res = await tc.inject({ url: '/api/iocs', key });
  t.equal(res.statusCode, 401, 'revocation takes effect on the next request');
});

onBothEngines('scopes: read, write and admin are enforced; user keys never get admin', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const reader = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['read'])).key;
  let res = await tc.inject({ method: 'POST', url: '/api/threats', key: reader, payload: { threats: [threat('198.51.100.1')] } });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'Missing scope: write');
  t.equal(await countIn(tc.storage, 'iocs'), 0);
  res = await tc.inject({ url: '/api/audit-log', key: reader });
  t.equal(res.json().error, 'Missing scope: admin');
  const writer = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['write'])).key;
  res = await tc.inject({ url: '/api/iocs', key: writer });
  t.equal(res.json().error, 'Missing scope: read');
  const user = await userKeyOn(tc.storage, tc.clock, 'enterprise', { scopes: ['read', 'write', 'admin'] });
  res = await tc.inject({ url: '/api/audit-log', key: user.key });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'Missing scope: admin');
  // A community user's key loses write.
  const community = await userKeyOn(tc.storage, tc.clock, 'community');
  res = await tc.inject({ method: 'POST', url: '/api/threats', key: community.key, payload: { threats: [threat('198.51.100.1')] } });
  t.equal(res.json().error, 'Missing scope: write');
  t.equal((await tc.inject({ url: '/api/audit-log' })).statusCode, 200, 'bootstrap keys have admin');
});

onBothEngines('a suspended owner gets 403; user keys count api_calls and get 403 past the quota', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const suspended = await userKeyOn(tc.storage, tc.clock, 'pro', { suspended: true });
  let res = await tc.inject({ url: '/api/iocs', key: suspended.key });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'Account suspended');
  const solo = await userKeyOn(tc.storage, tc.clock, 'solo');
  const usage = createUsageStore(tc.storage);
  const period = monthPeriod(tc.clock.now());
  t.equal((await tc.inject({ url: '/api/stats', key: solo.key })).statusCode, 200);
  t.equal(await usage.current(solo.userId, 'api_calls', period), 1, 'one call counted');
  await execute(tc.storage, `UPDATE usage_counters SET count = 10000 WHERE user_id = ?`, [solo.userId]);
  res = await tc.inject({ url: '/api/stats', key: solo.key });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, quotaExceededMessage('api_calls', 'solo'));
  t.equal(await usage.current(solo.userId, 'api_calls', period), 10000, 'a refused call is not counted');
  // Service keys are not counted against anyone.
  await tc.inject({ url: '/api/stats' });
  t.equal(await countIn(tc.storage, 'usage_counters'), 1);
});

onBothEngines('per-key limits by tier, with the 429 envelope and headers', async (t, engine) => {
  const tc = await buildThreatCloud(t, { env: { RATE_LIMIT_SCALE: '1', TC_TIER_LIMITS: '{"community":3}' }, storage: await storageOn(engine) });
  t.same(tierLimits(tc.config), { community: 3, solo: 120, pro: 600, business: 1200, enterprise: 6000 });
  const community = await userKeyOn(tc.storage, tc.clock, 'community');
  for (let i = 0; i < 3; i += 1) t.equal((await tc.inject({ url: '/api/stats', key: community.key })).statusCode, 200);
  const res = await tc.inject({ url: '/api/stats', key: community.key });
  t.equal(res.statusCode, 429);
  t.same(res.json(), { ok: false, error: 'Too many requests. Please try again later.', code: 'RATE_LIMITED' });
  t.ok(Number(res.headers['retry-after']) > 0);
  t.equal(res.headers['x-ratelimit-limit'], '3');
  t.equal(res.headers['x-ratelimit-remaining'], '0');
  t.ok(res.headers['x-ratelimit-reset']);
  // Another key has its own budget.
  t.equal((await tc.inject({ url: '/api/stats', key: (await userKeyOn(tc.storage, tc.clock, 'community')).key })).statusCode, 200);
});

onBothEngines('requests without a valid key: 30 per minute per IP, 401s counted', async (t, engine) => {
  const tc = await buildThreatCloud(t, { env: { RATE_LIMIT_SCALE: '1' }, storage: await storageOn(engine) });
  for (let i = 0; i < 30; i += 1) t.equal((await tc.inject({ url: '/api/iocs', key: `wrong-key-${i}` })).statusCode, 401);
  const res = await tc.inject({ url: '/api/iocs', key: 'wrong-key-x' });
  t.equal(res.statusCode, 429);
  t.ok(res.headers['retry-after']);
  t.equal((await tc.inject({ url: '/api/iocs' })).statusCode, 200, 'a valid key is limited by key, not by IP');
  t.equal((await tc.inject({ url: '/health', key: null })).statusCode, 200, '/health is never limited');
});

onBothEngines('operator key administration with TC_ADMIN_TOKEN only', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  let res = await tc.inject({ method: 'POST', url: '/api/admin/keys', payload: { name: 'siem', tier: 'pro', scopes: ['read'] } });
  t.equal(res.statusCode, 401, 'an API key (even with admin scope) cannot make keys');
  res = await tc.inject({ method: 'POST', url: '/api/admin/keys', key: null, headers: { authorization: 'Bearer not-the-admin-token' }, payload: { name: 'x', tier: 'pro', scopes: ['read'] } });
  t.equal(res.statusCode, 401);
  t.equal(res.json().error, 'Invalid admin token');
  res = await tc.inject({ method: 'POST', url: '/api/admin/keys', key: null, headers: ADMIN, payload: { name: 'siem', tier: 'nope', scopes: ['read'] } });
  t.equal(res.statusCode, 400);
  t.match(res.json().error, /tier must be one of/);
  res = await tc.inject({ method: 'POST', url: '/api/admin/keys', key: null, headers: ADMIN, payload: { name: 'siem', tier: 'pro', scopes: ['read', 'write'] } });
  t.equal(res.statusCode, 201);
  const created = res.json().data;
  t.match(created, { name: 'siem', tier: 'pro', scopes: ['read', 'write'] });
  t.match(created.key, /^pgk_[0-9A-Za-z]{40}$/);
  t.equal(created.prefix, created.key.slice(0, 8));
  t.equal((await tc.inject({ url: '/api/iocs', key: created.key })).statusCode, 200, 'the new key works');
  const [stored] = await selectRows<{ key_hash: string }>(tc.storage, `SELECT key_hash FROM api_keys WHERE id = ?`, [created.id]);
  t.not(stored!.key_hash, created.key, 'only the digest is stored');
  res = await tc.inject({ url: '/api/admin/keys', key: null, headers: ADMIN });
  const listed = res.json().data as Array<{ id: string; masked: string }>;
  t.ok(listed.find((k) => k.id === created.id));
  t.notOk(JSON.stringify(listed).includes(created.key), 'keys are never listed');
  t.equal(listed.find((k) => k.id === created.id)!.masked, `${created.key.slice(0, 4)}…${created.key.slice(-4)}`);
  res = await tc.inject({ method: 'DELETE', url: '/api/admin/keys/key_nope', key: null, headers: ADMIN });
  t.equal(res.statusCode, 404);
  t.equal(res.json().error, 'API key not found');
  const audit = await selectRows<{ details: string }>(tc.storage, `SELECT * FROM tc_audit_log WHERE resource LIKE 'api-key:%'`);
  t.equal(audit.length, 1);
  t.notOk(audit[0]!.details.includes(created.key), 'the audit entry never holds the key');
});

onBothEngines('bootstrap keys are synchronised with TC_API_KEYS idempotently', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const keys = createApiKeyStore(tc.storage, tc.clock);
  t.equal((await keys.verify(BOOTSTRAP_KEY))?.origin, 'bootstrap');
  t.same((await keys.verify(BOOTSTRAP_KEY))?.scopes, ['read', 'write', 'admin']);
  t.equal((await keys.verify(BOOTSTRAP_KEY))?.tier, 'enterprise');
  const other = 'another-bootstrap-key-0123456789abcdefghijklmnop';
  const storage = tc.storage;
  t.same(await syncBootstrapKeys(storage, keys, [BOOTSTRAP_KEY, other]), { added: 1, revoked: 0 });
  t.same(await syncBootstrapKeys(storage, keys, [BOOTSTRAP_KEY, other]), { added: 0, revoked: 0 }, 'idempotent');
  t.same(await syncBootstrapKeys(storage, keys, [other]), { added: 0, revoked: 1 }, 'a key removed from the list stops working');
  t.equal(await keys.verify(BOOTSTRAP_KEY), null);
  t.same(await syncBootstrapKeys(storage, keys, [BOOTSTRAP_KEY, other]), { added: 0, revoked: 0 }, 'a revoked key stays revoked');
  t.ok(testConfig(t));
});

onBothEngines('/docs/json documents every Threat Cloud route, without a key', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const res = await tc.inject({ url: '/docs/json', key: null });
  t.equal(res.statusCode, 200);
  const paths = Object.keys(res.json().paths);
  for (const path of ['/api/threats', '/api/iocs', '/api/iocs/{value}', '/api/iocs/{value}/status', '/api/sightings', '/api/trap-intel', '/api/feeds/ip-blocklist', '/api/feeds/domain-blocklist', '/api/feeds/iocs', '/api/feeds/agent-update', '/api/feeds/stix', '/api/rules', '/api/rules/{id}', '/api/audit-log', '/api/stats', '/api/admin/keys', '/api/admin/keys/{id}', '/health']) {
    t.ok(paths.includes(path), path);
  }
});
