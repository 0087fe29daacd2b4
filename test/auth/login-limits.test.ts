import t from 'tap';
import { codeAt } from '../../src/auth/totp-crypto.js';
import { toIso } from '../../src/shared/clock.js';
import { authApp, enableTotp, login, PASSWORD, register } from './fixtures.js';

const NO_GLOBAL = { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '100000' };

t.test('5 failed logins per account from one IP: then 429 whatever the password, other IPs unaffected', async (t) => {
  const { app, clock } = await authApp(t, { env: NO_GLOBAL });
  const account = await register(app);
  for (let i = 0; i < 5; i++) t.equal((await login(app, account.email, 'wrong password', {}, '198.51.100.1')).statusCode, 401);
  const right = await login(app, account.email, PASSWORD, {}, '198.51.100.1');
  const wrong = await login(app, account.email, 'wrong password', {}, '198.51.100.1');
  t.equal(right.statusCode, 429, 'right password refused during lockout');
  t.equal(wrong.statusCode, 429);
  t.same(right.json(), wrong.json(), 'identical answers: the lockout does not tell whether the password was right');
  t.same(right.json(), { ok: false, error: 'Too many requests. Please try again later.', code: 'RATE_LIMITED' });
  t.ok(Number(right.headers['retry-after']) > 0);
  t.equal(right.headers['x-ratelimit-limit'], '5');
  t.equal(right.headers['x-ratelimit-remaining'], '0');
  t.ok(right.headers['x-ratelimit-reset']);
  t.equal((await login(app, account.email, PASSWORD, {}, '198.51.100.2')).statusCode, 200, 'the owner elsewhere still gets in');
  clock.advance(15 * 60_000 + 1000);
  t.equal((await login(app, account.email, PASSWORD, {}, '198.51.100.1')).statusCode, 200, 'lock ends after 15 minutes');
});

t.test('failures per account from all IPs together lock it everywhere for the rest of the hour', async (t) => {
  // RATE_LIMIT_SCALE=0.1 turns the contract's 100 per hour into 10, so the test hashes less.
  const { app, clock } = await authApp(t, { env: { RATE_LIMIT_SCALE: '0.1', AUTH_RATE_LIMIT: '100000' } });
  const account = await register(app);
  for (let i = 0; i < 10; i++) {
    t.equal((await login(app, account.email, 'wrong password', {}, `10.0.0.${i + 1}`)).statusCode, 401);
  }
  t.equal((await login(app, account.email, PASSWORD, {}, '192.0.2.200')).statusCode, 429, 'locked from a fresh IP');
  clock.advance(60 * 60_000 + 1000);
  t.equal((await login(app, account.email, PASSWORD, {}, '192.0.2.201')).statusCode, 200, 'free again after the hour');
});

t.test('wrong second factors count as failed logins', async (t) => {
  const fixture = await authApp(t, { env: NO_GLOBAL });
  const { app, clock } = fixture;
  const account = await register(fixture.app);
  const { secret } = await enableTotp(fixture, account);
  const wrong = codeAt(secret, clock.now()) === '000000' ? '111111' : '000000';
  for (let i = 0; i < 5; i++) t.equal((await login(app, account.email, PASSWORD, { totpCode: wrong }, '198.51.100.3')).statusCode, 401);
  t.equal((await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) }, '198.51.100.3')).statusCode, 429);
});

t.test('login route: 10 requests per 15 minutes per IP', async (t) => {
  const { app } = await authApp(t, { env: NO_GLOBAL });
  for (let i = 0; i < 10; i++) {
    t.not((await login(app, `nobody${i}@example.com`, 'whatever1', {}, '198.51.100.50')).statusCode, 429);
  }
  const limited = await login(app, 'nobody@example.com', 'whatever1', {}, '198.51.100.50');
  t.equal(limited.statusCode, 429);
  t.equal(limited.headers['x-ratelimit-limit'], '10');
});

t.test('register: 5 per hour per IP', async (t) => {
  const { app } = await authApp(t, { env: NO_GLOBAL });
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: '198.51.100.60', payload: { email: `r${i}@example.com`, name: 'R', password: PASSWORD } });
    t.equal(res.statusCode, 201);
  }
  const limited = await app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: '198.51.100.60', payload: { email: 'r9@example.com', name: 'R', password: PASSWORD } });
  t.equal(limited.statusCode, 429);
});

t.test('global limit per IP (AUTH_RATE_LIMIT) applies to session routes; health is exempt', async (t) => {
  const { app } = await authApp(t, { env: { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '3' } });
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/api/auth/me', remoteAddress: '198.51.100.70' })).statusCode, 401);
  t.equal((await app.inject({ url: '/api/auth/me', remoteAddress: '198.51.100.70' })).statusCode, 429, '401s count toward the limit');
  t.equal((await app.inject({ url: '/health', remoteAddress: '198.51.100.70' })).statusCode, 200);
});

t.test('login from a malicious IP: 403 without TOTP (before the password), two steps with TOTP', async (t) => {
  const fixture = await authApp(t, { env: NO_GLOBAL });
  const { app, db, clock } = fixture;
  const insertIoc = db.prepare(
    `INSERT INTO iocs (id, type, value, reputation, status, severity, confidence, source, first_seen, last_seen, updated_at, change_seq)
     VALUES (?, 'ip', ?, ?, ?, 'high', 0.9, 'test', ?, ?, ?, ?)`,
  );
  const now = toIso(clock.now());
  insertIoc.run('ioc_bad', '203.0.113.66', 10, 'active', now, now, now, 1);
  insertIoc.run('ioc_v6', '2001:db8::66', 30, 'active', now, now, now, 2);
  insertIoc.run('ioc_old', '203.0.113.67', 10, 'expired', now, now, now, 3);
  insertIoc.run('ioc_meh', '203.0.113.68', 31, 'active', now, now, now, 4);
  const plain = await register(app);
  const blocked = await login(app, plain.email, 'wrong password', {}, '203.0.113.66');
  t.equal(blocked.statusCode, 403);
  t.equal(blocked.json().error, 'Login blocked from a known malicious address');
  t.equal((await login(app, plain.email, PASSWORD, {}, '::ffff:203.0.113.66')).statusCode, 403, 'IPv4-mapped form normalised');
  t.equal((await login(app, plain.email, PASSWORD, {}, '2001:0db8:0000::0066')).statusCode, 403, 'IPv6 normalised');
  t.equal((await login(app, plain.email, PASSWORD, {}, '203.0.113.67')).statusCode, 200, 'expired IoC does not block');
  t.equal((await login(app, plain.email, PASSWORD, {}, '203.0.113.68')).statusCode, 200, 'reputation above 30 does not block');
  const failures = db.prepare(`SELECT count(*) AS n FROM audit_log WHERE action = 'login.failure' AND details LIKE '%malicious_ip%'`).get() as { n: number };
  t.equal(failures.n, 3, 'counted as failed attempts');

  const withTotp = await register(app);
  const { secret } = await enableTotp(fixture, withTotp);
  const step1 = await login(app, withTotp.email, PASSWORD, {}, '203.0.113.66');
  t.same(step1.json(), { ok: false, error: '2FA_REQUIRED', totpRequired: true });
  t.equal((await login(app, withTotp.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) }, '203.0.113.66')).statusCode, 200);
});

t.test('AUTH_IP_REPUTATION_CHECK=false turns the check off', async (t) => {
  const { app, db, clock } = await authApp(t, { env: { ...NO_GLOBAL, AUTH_IP_REPUTATION_CHECK: 'false' } });
  const now = toIso(clock.now());
  db.prepare(
    `INSERT INTO iocs (id, type, value, reputation, status, severity, confidence, source, first_seen, last_seen, updated_at, change_seq)
     VALUES ('ioc_x', 'ip', '203.0.113.66', 0, 'active', 'high', 1, 'test', ?, ?, ?, 1)`,
  ).run(now, now, now);
  const account = await register(app);
  t.equal((await login(app, account.email, PASSWORD, {}, '203.0.113.66')).statusCode, 200);
});
