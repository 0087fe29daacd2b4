import { codeAt } from '../../src/auth/services/totp-crypto.js';
import { toIso } from '../../src/shared/clock.js';
import type { App } from '../../src/shared/base-app.js';
import { defineStatement } from '../../src/shared/db/storage.js';
import { selectRows } from '../engines.js';
import { buildAuthOn, countIn, countOf, enableTotp, login, onBothEngines, PASSWORD, register, seedIocIn, wrongTotpCode } from './fixtures.js';

const NO_GLOBAL = { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '100000' };

onBothEngines('5 failed logins per account from one IP: then 429 whatever the password, other IPs unaffected', async (t, engine) => {
  const { app, clock } = await buildAuthOn(t, engine, { env: NO_GLOBAL });
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

onBothEngines('failures per account from all IPs together lock it everywhere for the rest of the hour', async (t, engine) => {
  // RATE_LIMIT_SCALE=0.1 turns the contract's 100 per hour into 10, so the test hashes less.
  const { app, clock } = await buildAuthOn(t, engine, { env: { RATE_LIMIT_SCALE: '0.1', AUTH_RATE_LIMIT: '100000' } });
  const account = await register(app);
  for (let i = 0; i < 10; i++) {
    t.equal((await login(app, account.email, 'wrong password', {}, `10.0.0.${i + 1}`)).statusCode, 401);
  }
  t.equal((await login(app, account.email, PASSWORD, {}, '192.0.2.200')).statusCode, 429, 'locked from a fresh IP');
  clock.advance(60 * 60_000 + 1000);
  t.equal((await login(app, account.email, PASSWORD, {}, '192.0.2.201')).statusCode, 200, 'free again after the hour');
});

/**
 * A botnet: `addresses` addresses, each with 5 wrong passwords (the most one address may try).
 * Returns the statuses in order.
 */
async function botnet(app: App, email: string, prefix: string, addresses = 21): Promise<number[]> {
  const statuses: number[] = [];
  for (let bot = 1; bot <= addresses; bot++) {
    for (let i = 0; i < 5; i++) statuses.push((await login(app, email, `guess ${bot}.${i}`, {}, `${prefix}.${bot}`)).statusCode);
  }
  return statuses;
}

onBothEngines('21 addresses × 5 wrong passwords reach the cap; the owner still signs in from a known address', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  const account = await register(app);
  const home = '192.0.2.10';
  t.equal((await login(app, account.email, PASSWORD, {}, home)).statusCode, 200, 'the owner signs in from home once: a known address');

  const statuses = await botnet(app, account.email, '10.2.0');
  t.same(statuses.slice(0, 100), Array(100).fill(401), '100 failures from 20 addresses are answered 401');
  t.same(statuses.slice(100), Array(5).fill(429), 'the 21st address meets the account-wide cap');

  t.equal((await login(app, account.email, PASSWORD, {}, home)).statusCode, 200, 'the owner from the known address: 200');
  t.equal((await login(app, account.email, PASSWORD, {}, '192.0.2.11')).statusCode, 429, 'the right password from a new address: 429');
  t.equal((await login(app, account.email, PASSWORD, {}, '10.2.0.1')).statusCode, 429, 'and from a bot address: 429');

  // A known address is spared the cap, not the per-account-and-IP rule.
  for (let i = 0; i < 5; i++) t.equal((await login(app, account.email, 'typo', {}, home)).statusCode, 401);
  t.equal((await login(app, account.email, PASSWORD, {}, home)).statusCode, 429, '5 failures from the known address lock it for 15 minutes');
});

onBothEngines('only a sign-in with both factors makes an address known', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  const { app, clock } = fixture;
  const account = await register(fixture.app);
  const { secret } = await enableTotp(fixture, account);
  const [full, passwordOnly, wrongCode] = ['192.0.2.20', '192.0.2.21', '192.0.2.22'];
  t.equal((await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) }, full)).statusCode, 200);
  t.same((await login(app, account.email, PASSWORD, {}, passwordOnly)).json(), { ok: false, error: '2FA_REQUIRED', totpRequired: true });
  t.equal((await login(app, account.email, PASSWORD, { totpCode: wrongTotpCode(secret, clock.now()) }, wrongCode)).statusCode, 401);
  clock.advance(30_000);

  await botnet(app, account.email, '10.3.0');
  t.equal((await login(app, account.email, PASSWORD, {}, passwordOnly)).statusCode, 429, 'the right password alone did not make the address known');
  t.equal((await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) }, wrongCode)).statusCode, 429, 'nor did a wrong second factor');
  t.equal((await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) }, full)).statusCode, 200, 'the address of a full sign-in is known');
});

onBothEngines('an address stays known for 30 days after its last successful sign-in', async (t, engine) => {
  const { app, clock } = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  const account = await register(app);
  const [home, office] = ['192.0.2.30', '192.0.2.31'];
  t.equal((await login(app, account.email, PASSWORD, {}, home)).statusCode, 200);
  t.equal((await login(app, account.email, PASSWORD, {}, office)).statusCode, 200);
  clock.advance(29 * 24 * 60 * 60_000);
  t.equal((await login(app, account.email, PASSWORD, {}, office)).statusCode, 200, 'a new sign-in renews the office');
  clock.advance(24 * 60 * 60_000 + 60_000);

  await botnet(app, account.email, '10.4.0');
  t.equal((await login(app, account.email, PASSWORD, {}, home)).statusCode, 429, 'home: last success 30 days ago, no longer known');
  t.equal((await login(app, account.email, PASSWORD, {}, office)).statusCode, 200, 'office: last success a day ago, still known');
});

const INSERT_KNOWN_ADDRESS = defineStatement<[userId: string, ip: string, lastSuccessAt: string]>(
  `INSERT INTO known_addresses (user_id, ip, last_success_at) VALUES (?, ?, ?)`,
);

onBothEngines('known addresses: written with the sign-in, purged after 30 days in batches, gone with the account', async (t, engine) => {
  const { app, storage, clock, jobs } = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  const account = await register(app);
  t.equal(await countIn(storage, 'known_addresses'), 0, 'registration alone makes no address known');
  t.equal((await login(app, account.email, PASSWORD, {}, '192.0.2.40')).statusCode, 200);
  t.equal((await login(app, account.email, PASSWORD, {}, '192.0.2.40')).statusCode, 200);
  t.same(await selectRows(storage, `SELECT user_id, ip, last_success_at FROM known_addresses`), [{ user_id: account.id, ip: '192.0.2.40', last_success_at: toIso(clock.now()) }], 'one row per address');
  const exported = await app.inject({ url: '/api/auth/export-data', headers: account.headers });
  t.same(exported.json().data.knownAddresses, [{ ip: '192.0.2.40', lastSuccessAt: toIso(clock.now()) }], 'in the GDPR export: IPs tied to the person');

  // 1,234 stale rows: more than one batch of the sweep.
  const old = toIso(clock.now() - 31 * 24 * 60 * 60_000);
  await storage.transaction({ durable: false }, async (tx) => {
    for (let i = 0; i < 1234; i++) await tx.run(INSERT_KNOWN_ADDRESS, [account.id, `10.9.${Math.floor(i / 250)}.${i % 250}`, old]);
  });
  t.equal((await jobs.maintenance.run()).knownAddressesPurged, 1234, 'addresses not used for 30 days are purged');
  t.equal(await countIn(storage, 'known_addresses'), 1, 'the recent one stays');

  const deleted = await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: account.headers, payload: { password: PASSWORD } });
  t.equal(deleted.statusCode, 200);
  t.equal(await countIn(storage, 'known_addresses'), 0, 'deleted with the account');
});

onBothEngines('wrong second factors count as failed logins', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  const { app, clock } = fixture;
  const account = await register(fixture.app);
  const { secret } = await enableTotp(fixture, account);
  const wrong = wrongTotpCode(secret, clock.now());
  for (let i = 0; i < 5; i++) t.equal((await login(app, account.email, PASSWORD, { totpCode: wrong }, '198.51.100.3')).statusCode, 401);
  t.equal((await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) }, '198.51.100.3')).statusCode, 429);
});

onBothEngines('login route: 10 requests per 15 minutes per IP', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  for (let i = 0; i < 10; i++) {
    t.not((await login(app, `nobody${i}@example.com`, 'whatever1', {}, '198.51.100.50')).statusCode, 429);
  }
  const limited = await login(app, 'nobody@example.com', 'whatever1', {}, '198.51.100.50');
  t.equal(limited.statusCode, 429);
  t.equal(limited.headers['x-ratelimit-limit'], '10');
  const retryAfter = Number(limited.headers['retry-after']);
  t.ok(retryAfter > 14 * 60 && retryAfter <= 15 * 60, `the window is 15 minutes (Retry-After ${retryAfter} s)`);
});

onBothEngines('register: 5 per hour per IP', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: '198.51.100.60', payload: { email: `r${i}@example.com`, name: 'R', password: PASSWORD } });
    t.equal(res.statusCode, 201);
  }
  const limited = await app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: '198.51.100.60', payload: { email: 'r9@example.com', name: 'R', password: PASSWORD } });
  t.equal(limited.statusCode, 429);
  const retryAfter = Number(limited.headers['retry-after']);
  t.ok(retryAfter > 59 * 60 && retryAfter <= 60 * 60, `the window is an hour (Retry-After ${retryAfter} s)`);
});

onBothEngines('global limit per IP (AUTH_RATE_LIMIT) applies to session routes; health is exempt', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine, { env: { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '3' } });
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/api/auth/me', remoteAddress: '198.51.100.70' })).statusCode, 401);
  t.equal((await app.inject({ url: '/api/auth/me', remoteAddress: '198.51.100.70' })).statusCode, 429, '401s count toward the limit');
  t.equal((await app.inject({ url: '/health', remoteAddress: '198.51.100.70' })).statusCode, 200);
});

onBothEngines('login from a malicious IP: 403 without TOTP (before the password), two steps with TOTP', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  const { app, storage, clock } = fixture;
  const at = toIso(clock.now());
  await seedIocIn(storage, { id: 'ioc_bad', value: '203.0.113.66', reputation: 10, changeSeq: 1, at });
  await seedIocIn(storage, { id: 'ioc_v6', value: '2001:db8::66', reputation: 30, changeSeq: 2, at });
  await seedIocIn(storage, { id: 'ioc_old', value: '203.0.113.67', reputation: 10, status: 'expired', changeSeq: 3, at });
  await seedIocIn(storage, { id: 'ioc_meh', value: '203.0.113.68', reputation: 31, changeSeq: 4, at });
  const plain = await register(app);
  const blocked = await login(app, plain.email, 'wrong password', {}, '203.0.113.66');
  t.equal(blocked.statusCode, 403);
  t.equal(blocked.json().error, 'Login blocked from a known malicious address');
  t.equal((await login(app, plain.email, PASSWORD, {}, '::ffff:203.0.113.66')).statusCode, 403, 'IPv4-mapped form normalised');
  t.equal((await login(app, plain.email, PASSWORD, {}, '2001:0db8:0000::0066')).statusCode, 403, 'IPv6 normalised');
  t.equal((await login(app, plain.email, PASSWORD, {}, '203.0.113.67')).statusCode, 200, 'expired IoC does not block');
  t.equal((await login(app, plain.email, PASSWORD, {}, '203.0.113.68')).statusCode, 200, 'reputation above 30 does not block');
  const failures = await countOf(storage, `SELECT count(*) AS n FROM audit_log WHERE action = 'login.failure' AND details LIKE '%malicious_ip%'`);
  t.equal(failures, 3, 'counted as failed attempts');

  const withTotp = await register(app);
  const { secret } = await enableTotp(fixture, withTotp);
  const step1 = await login(app, withTotp.email, PASSWORD, {}, '203.0.113.66');
  t.same(step1.json(), { ok: false, error: '2FA_REQUIRED', totpRequired: true });
  t.equal((await login(app, withTotp.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) }, '203.0.113.66')).statusCode, 200);
});

onBothEngines('AUTH_IP_REPUTATION_CHECK=false turns the check off', async (t, engine) => {
  const { app, storage, clock } = await buildAuthOn(t, engine, { env: { ...NO_GLOBAL, AUTH_IP_REPUTATION_CHECK: 'false' } });
  await seedIocIn(storage, { id: 'ioc_x', value: '203.0.113.66', reputation: 0, confidence: 1, changeSeq: 1, at: toIso(clock.now()) });
  const account = await register(app);
  t.equal((await login(app, account.email, PASSWORD, {}, '203.0.113.66')).statusCode, 200);
});
