import { codeAt } from '../../src/auth/services/totp-crypto.js';
import { authHeader } from '../helper.js';
import { selectRows } from '../engines.js';
import { buildAuthOn, countIn, enableTotp, login, onBothEngines, PASSWORD, register, wrongTotpCode } from './fixtures.js';

onBothEngines('setup returns secret, otpauth URL and 10 backup codes; repeated setup replaces the pending secret', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const account = await register(app);
  const first = await app.inject({ method: 'POST', url: '/api/auth/totp/setup', headers: account.headers });
  t.equal(first.statusCode, 200);
  const data = first.json().data;
  t.match(data.secret, /^[A-Z2-7]{32}$/, '20 bytes in base32');
  t.match(data.otpauthUrl, /^otpauth:\/\/totp\/Panguard:/);
  t.match(data.otpauthUrl, /issuer=Panguard/);
  t.match(decodeURIComponent(data.otpauthUrl), new RegExp(`Panguard:${account.email}`));
  t.equal(data.backupCodes.length, 10);
  for (const code of data.backupCodes) t.match(code, /^[a-z0-9]{10}$/);
  const [stored] = await selectRows<{ secret_encrypted: string }>(storage, `SELECT secret_encrypted FROM totp_secrets`);
  t.notMatch(stored!.secret_encrypted, data.secret, 'secret encrypted at rest');
  const codes = await selectRows<{ code_hash: string }>(storage, `SELECT code_hash FROM totp_backup_codes`);
  t.equal(codes.length, 10);
  t.notOk(codes.some((c) => data.backupCodes.includes(c.code_hash)), 'backup codes hashed');
  const second = await app.inject({ method: 'POST', url: '/api/auth/totp/setup', headers: account.headers });
  t.not(second.json().data.secret, data.secret);
  t.equal(await countIn(storage, 'totp_backup_codes'), 10);
  const stale = await app.inject({ method: 'POST', url: '/api/auth/totp/verify', headers: account.headers, payload: { totpCode: codeAt(data.secret, Date.parse('2026-03-07T12:00:00.000Z')) } });
  t.equal(stale.statusCode, 400, 'the replaced secret no longer verifies');
  t.equal(stale.json().error, 'Invalid TOTP code. Please try again.');
});

onBothEngines('verify enables 2FA; setup afterwards is 409; status reports it', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app } = fixture;
  const account = await register(app);
  const before = await app.inject({ url: '/api/auth/totp/status', headers: account.headers });
  t.same(before.json().data, { enabled: false, backupCodesRemaining: 0 });
  const noSetup = await app.inject({ method: 'POST', url: '/api/auth/totp/verify', headers: account.headers, payload: { totpCode: '123456' } });
  t.equal(noSetup.statusCode, 400);
  await enableTotp(fixture, account);
  const after = await app.inject({ url: '/api/auth/totp/status', headers: account.headers });
  t.same(after.json().data, { enabled: true, backupCodesRemaining: 10 });
  const again = await app.inject({ method: 'POST', url: '/api/auth/totp/setup', headers: account.headers });
  t.equal(again.statusCode, 409);
  const me = await app.inject({ url: '/api/auth/me', headers: account.headers });
  t.equal(me.json().data.totpEnabled, true);
  for (const totpCode of [123456, ['123456'], { a: 1 }, null, '12345a']) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/totp/verify', headers: account.headers, payload: { totpCode } });
    t.equal(res.statusCode, 400, JSON.stringify(totpCode));
  }
});

onBothEngines('login with 2FA: two steps, wrong code, replayed code, numeric code never bypasses', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, clock, storage } = fixture;
  const account = await register(app);
  const { secret } = await enableTotp(fixture, account);

  const step1 = await login(app, account.email);
  t.equal(step1.statusCode, 200);
  t.same(step1.json(), { ok: false, error: '2FA_REQUIRED', totpRequired: true });
  const sessions = await countIn(storage, 'sessions');

  const wrongPassword = await login(app, account.email, 'wrong password', { totpCode: codeAt(secret, clock.now()) });
  t.equal(wrongPassword.statusCode, 401);
  t.equal(wrongPassword.json().error, 'Invalid email or password');

  const wrongCode = await login(app, account.email, PASSWORD, { totpCode: wrongTotpCode(secret, clock.now()) });
  t.equal(wrongCode.statusCode, 401);
  t.equal(wrongCode.json().error, 'Invalid two-factor code');

  for (const totpCode of [Number(codeAt(secret, clock.now())), [codeAt(secret, clock.now())], { code: codeAt(secret, clock.now()) }, true]) {
    const res = await login(app, account.email, PASSWORD, { totpCode });
    t.equal(res.statusCode, 400, `totpCode ${JSON.stringify(totpCode)} is a 400`);
    t.notOk(res.json().data?.token, 'no token');
  }
  t.equal(await countIn(storage, 'sessions'), sessions, 'no session from a failed second step');

  const code = codeAt(secret, clock.now());
  const ok = await login(app, account.email, PASSWORD, { totpCode: code });
  t.equal(ok.statusCode, 200);
  t.ok(ok.json().data.token);
  t.equal(ok.json().data.user.totpEnabled, true);

  const replay = await login(app, account.email, PASSWORD, { totpCode: code });
  t.equal(replay.statusCode, 401, 'the same step cannot be used twice');
  t.equal(replay.json().error, 'Invalid two-factor code');

  clock.advance(30_000);
  const previousStep = codeAt(secret, clock.now() - 30_000);
  t.equal((await login(app, account.email, PASSWORD, { totpCode: previousStep })).statusCode, 401, 'an older step than the last used is refused');
  const next = await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) });
  t.equal(next.statusCode, 200, 'the next step works');
});

onBothEngines('±1 step window', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, clock } = fixture;
  const account = await register(app);
  const { secret } = await enableTotp(fixture, account);
  clock.advance(5 * 30_000);
  t.equal((await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now() + 30_000) })).statusCode, 200, 'one step ahead accepted');
  clock.advance(5 * 30_000);
  t.equal((await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now() - 30_000) })).statusCode, 200, 'one step behind accepted');
  clock.advance(5 * 30_000);
  t.equal((await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now() - 90_000) })).statusCode, 401, 'three steps behind refused');
});

onBothEngines('backup codes are single use; regenerated codes void the old ones', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, clock } = fixture;
  const account = await register(app);
  const { secret, backupCodes } = await enableTotp(fixture, account);
  const first = await login(app, account.email, PASSWORD, { backupCode: backupCodes[0] });
  t.equal(first.statusCode, 200);
  const again = await login(app, account.email, PASSWORD, { backupCode: backupCodes[0] });
  t.equal(again.statusCode, 401);
  t.equal(again.json().error, 'Invalid backup code');
  const status = await app.inject({ url: '/api/auth/totp/status', headers: account.headers });
  t.equal(status.json().data.backupCodesRemaining, 9);

  const bad = await app.inject({ method: 'POST', url: '/api/auth/totp/backup-codes', headers: account.headers, payload: { totpCode: wrongTotpCode(secret, clock.now()) } });
  t.equal(bad.statusCode, 401);
  const regen = await app.inject({ method: 'POST', url: '/api/auth/totp/backup-codes', headers: account.headers, payload: { totpCode: codeAt(secret, clock.now()) } });
  t.equal(regen.statusCode, 200);
  const fresh = regen.json().data.backupCodes as string[];
  t.equal(fresh.length, 10);
  t.equal((await login(app, account.email, PASSWORD, { backupCode: backupCodes[1] })).statusCode, 401, 'old codes void');
  t.equal((await login(app, account.email, PASSWORD, { backupCode: fresh[0] })).statusCode, 200, 'new codes work');
});

onBothEngines('disable needs password and a code; it ends the other sessions', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, clock, storage } = fixture;
  const account = await register(app);
  const { secret, backupCodes } = await enableTotp(fixture, account);
  const other = (await login(app, account.email, PASSWORD, { totpCode: codeAt(secret, clock.now()) })).json().data.token as string;
  clock.advance(30_000);

  const missing = await app.inject({ method: 'POST', url: '/api/auth/totp/disable', headers: account.headers, payload: { password: PASSWORD } });
  t.equal(missing.statusCode, 400);
  const numeric = await app.inject({ method: 'POST', url: '/api/auth/totp/disable', headers: account.headers, payload: { password: PASSWORD, totpCode: Number(codeAt(secret, clock.now())) } });
  t.equal(numeric.statusCode, 400);
  const wrongPassword = await app.inject({ method: 'POST', url: '/api/auth/totp/disable', headers: account.headers, payload: { password: 'nope nope', totpCode: codeAt(secret, clock.now()) } });
  t.equal(wrongPassword.statusCode, 401);
  const wrongBackup = await app.inject({ method: 'POST', url: '/api/auth/totp/disable', headers: account.headers, payload: { password: PASSWORD, backupCode: 'zzzzzzzzzz' } });
  t.equal(wrongBackup.statusCode, 401);
  t.equal(await countIn(storage, 'totp_secrets'), 1, 'still enabled');

  const res = await app.inject({ method: 'POST', url: '/api/auth/totp/disable', headers: account.headers, payload: { password: PASSWORD, backupCode: backupCodes[3] } });
  t.equal(res.statusCode, 200);
  t.same(res.json().data, { message: 'Two-factor authentication disabled' });
  t.equal(await countIn(storage, 'totp_secrets'), 0);
  t.equal(await countIn(storage, 'totp_backup_codes'), 0);
  t.equal((await app.inject({ url: '/api/auth/me', headers: account.headers })).statusCode, 200, 'this session kept');
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(other) })).statusCode, 401, 'other sessions revoked');
  t.equal((await login(app, account.email)).statusCode, 200, 'password alone signs in again');
});

onBothEngines('TOTP guessing is limited to 5 failures per 15 minutes per user', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '1000' } });
  const { app, clock } = fixture;
  const account = await register(app);
  const { secret } = (await app.inject({ method: 'POST', url: '/api/auth/totp/setup', headers: account.headers })).json().data as { secret: string };
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/totp/verify', headers: account.headers, payload: { totpCode: wrongTotpCode(secret, clock.now()) } });
    t.equal(res.statusCode, 400);
  }
  const blocked = await app.inject({ method: 'POST', url: '/api/auth/totp/verify', headers: account.headers, payload: { totpCode: wrongTotpCode(secret, clock.now()) } });
  t.equal(blocked.statusCode, 429);
  t.equal(blocked.json().error, 'Too many requests. Please try again later.');
  t.ok(Number(blocked.headers['retry-after']) > 0);
  clock.advance(15 * 60_000 + 1000);
  const later = await app.inject({ method: 'POST', url: '/api/auth/totp/verify', headers: account.headers, payload: { totpCode: wrongTotpCode(secret, clock.now()) } });
  t.equal(later.statusCode, 400, 'window over');
});

onBothEngines('TOTP routes need a session', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  for (const [method, url] of [['POST', '/api/auth/totp/setup'], ['POST', '/api/auth/totp/verify'], ['POST', '/api/auth/totp/disable'], ['GET', '/api/auth/totp/status'], ['POST', '/api/auth/totp/backup-codes']] as const) {
    const res = await app.inject({ method, url, payload: method === 'POST' ? {} : undefined });
    t.equal(res.statusCode, 401, url);
    t.equal(res.json().error, 'Authentication required');
  }
});
