import { authHeader } from '../helper.js';
import { execute, selectRows } from '../engines.js';
import { buildAuthOn, countIn, countOf, login, onBothEngines, PASSWORD, register, registerAdmin, settled, uniqueEmail } from './fixtures.js';

onBothEngines('register creates a user with a working token; the first loopback user is admin', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const email = uniqueEmail();
  const res = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    remoteAddress: '127.0.0.1',
    payload: { email: `  ${email.toUpperCase()} `, name: '  Ada  ', password: PASSWORD },
  });
  t.equal(res.statusCode, 201);
  const data = res.json().data;
  t.equal(data.message, 'If this email can be registered, the account has been created.');
  t.equal(data.user.email, email, 'e-mail trimmed and lower-cased');
  t.equal(data.user.name, 'Ada', 'name trimmed');
  t.match(data.user.id, /^usr_/);
  t.match(data.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const me = await app.inject({ url: '/api/auth/me', headers: authHeader(data.token) });
  t.equal(me.statusCode, 200);
  t.equal(me.json().data.role, 'admin');
  t.equal(me.json().data.tier, 'community');
  t.equal(me.json().data.totpEnabled, false);
  t.equal(await countIn(storage, 'sessions'), 1);

  const second = await register(app, { ip: '127.0.0.1' });
  const secondMe = await app.inject({ url: '/api/auth/me', headers: second.headers });
  t.equal(secondMe.json().data.role, 'user', 'only the first account becomes admin');
});

onBothEngines('the first user registered from a remote address is not admin', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const account = await register(app, { ip: '203.0.113.5' });
  const me = await app.inject({ url: '/api/auth/me', headers: account.headers });
  t.equal(me.json().data.role, 'user');
});

onBothEngines('registering an existing e-mail answers 200 without token, changes nothing and mails a notice', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const account = await register(app);
  const users = await countIn(storage, 'users');
  const res = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: account.email, name: 'Other', password: 'another password' } });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { ok: true, data: { message: 'If this email can be registered, the account has been created.' } });
  t.equal(await countIn(storage, 'users'), users);
  t.equal(await countIn(storage, 'outbox'), 0, 'the notice is made after the answer, as forgot-password makes its link');
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM audit_log WHERE action = 'register.duplicate' AND target_id = ?`, [account.id]), 1, 'audited before the answer, in one durable commit as a new account is');
  await settled(app);
  const ok = await login(app, account.email, PASSWORD);
  t.equal(ok.statusCode, 200, 'old password still works');
  const mail = await selectRows<{ subject: string; status: string }>(storage, `SELECT subject, status FROM outbox WHERE recipient = ?`, [account.email]);
  t.equal(mail.length, 1);
  t.equal(mail[0]!.status, 'stored');
  t.match(mail[0]!.subject, /register/);
});

onBothEngines('register validation names the field and stores nothing', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ email: 'a@example.com', name: 'A', password: 'short' }, 'Password must be between 8 and 128 characters'],
    [{ email: 'a@example.com', name: 'A', password: 'x'.repeat(129) }, 'Password must be between 8 and 128 characters'],
    [{ email: 'a@example.com', name: 'A', password: 12345678 }, 'Password must be between 8 and 128 characters'],
    [{ email: 'not-an-email', name: 'A', password: PASSWORD }, 'email must be a valid email address of at most 254 characters'],
    [{ email: `${'a'.repeat(250)}@example.com`, name: 'A', password: PASSWORD }, 'email must be a valid email address of at most 254 characters'],
    [{ email: 'a@example.com', name: '   ', password: PASSWORD }, 'name must be between 1 and 100 characters'],
    [{ email: 'a@example.com', name: 'n'.repeat(101), password: PASSWORD }, 'name must be between 1 and 100 characters'],
    [{ name: 'A', password: PASSWORD }, 'email is required'],
    [{ email: 'a@example.com', password: PASSWORD }, 'name is required'],
    [{ email: 'a@example.com', name: 'A' }, 'password is required'],
  ];
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/register', payload });
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80));
    t.equal(res.json().error, message);
  }
  t.equal(await countIn(storage, 'users'), 0);
  t.equal(await countIn(storage, 'sessions'), 0);
});

onBothEngines('login: success, wrong password, unknown e-mail, suspended account', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const account = await register(app);
  const res = await login(app, account.email.toUpperCase());
  t.equal(res.statusCode, 200);
  const data = res.json().data;
  t.same(data.user, { id: account.id, email: account.email, name: 'Test User', totpEnabled: false });
  t.ok(data.token);
  const wrong = await login(app, account.email, 'wrong password');
  t.equal(wrong.statusCode, 401);
  t.same(wrong.json(), { ok: false, error: 'Invalid email or password', code: 'UNAUTHORIZED' });
  const unknown = await login(app, 'nobody@example.com', 'wrong password');
  t.equal(unknown.statusCode, 401);
  t.equal(unknown.json().error, 'Invalid email or password');
  const token = res.json().data.token as string;
  await execute(storage, `UPDATE users SET suspended = 1 WHERE id = ?`, [account.id]);
  const meSuspended = await app.inject({ url: '/api/auth/me', headers: authHeader(token) });
  t.equal(meSuspended.statusCode, 403, 'a suspension set outside the API still stops the token');
  t.equal(meSuspended.json().error, 'Account suspended');
  const suspended = await login(app, account.email);
  t.equal(suspended.statusCode, 403);
  t.equal(suspended.json().error, 'Account suspended');
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM audit_log WHERE action = 'login.failure'`), 3);
});

onBothEngines('login validation: codes of the wrong type or format, both codes', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const account = await register(app);
  const sessions = await countIn(storage, 'sessions');
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ totpCode: 123456 }, 'totpCode must be a string of 6 digits'],
    [{ totpCode: ['123456'] }, 'totpCode must be a string of 6 digits'],
    [{ totpCode: { code: '123456' } }, 'totpCode must be a string of 6 digits'],
    [{ totpCode: true }, 'totpCode must be a string of 6 digits'],
    [{ totpCode: '12345' }, 'totpCode must be a string of 6 digits'],
    [{ backupCode: 1234567890 }, 'backupCode must be a string of 10 lower-case letters and digits'],
    [{ backupCode: 'ABCDEFGHIJ' }, 'backupCode must be a string of 10 lower-case letters and digits'],
    [{ totpCode: '123456', backupCode: 'abcdefghij' }, 'Provide either totpCode or backupCode, not both'],
  ];
  for (const [extra, message] of cases) {
    const res = await login(app, account.email, PASSWORD, extra);
    t.equal(res.statusCode, 400, JSON.stringify(extra));
    t.equal(res.json().error, message);
  }
  const noPassword = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: account.email } });
  t.equal(noPassword.statusCode, 400);
  t.equal(noPassword.json().error, 'password is required');
  t.equal(await countIn(storage, 'sessions'), sessions, 'no session created by a bad request');
});

onBothEngines('missing, malformed, foreign and expired tokens', async (t, engine) => {
  const { app, clock } = await buildAuthOn(t, engine);
  const account = await register(app);
  const none = await app.inject({ url: '/api/auth/me' });
  t.equal(none.statusCode, 401);
  t.same(none.json(), { ok: false, error: 'Authentication required', code: 'UNAUTHORIZED' });
  for (const authorization of ['Bearer nonsense', 'Basic abc', `Bearer ${account.token}x`, 'Bearer ']) {
    const res = await app.inject({ url: '/api/auth/me', headers: { authorization } });
    t.equal(res.statusCode, 401, authorization);
    t.equal(res.json().error, 'Invalid or expired token');
  }
  const other = await app.jwt.sign({ sub: account.id, sid: 'ses_x', exp: Math.floor(clock.now() / 1000) + 60 });
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(other) })).json().error, 'Invalid or expired token', 'unknown session');
  const [header, payload] = account.token.split('.');
  const noneAlg = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(noneAlg) })).statusCode, 401, 'alg none refused');
  t.ok(header);
  const hs512 = app.jwt.sign({ sub: account.id, sid: 'x', exp: Math.floor(clock.now() / 1000) + 60 }, { algorithm: 'HS512' });
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(hs512) })).statusCode, 401, 'another algorithm refused');
  clock.advance(24 * 60 * 60 * 1000 + 1000);
  const expired = await app.inject({ url: '/api/auth/me', headers: account.headers });
  t.equal(expired.statusCode, 401);
  t.equal(expired.json().error, 'Invalid or expired token');
});

onBothEngines("a token of a live session is refused outside its own exp and nbf, on the service clock", async (t, engine) => {
  const { app, clock } = await buildAuthOn(t, engine);
  const account = await register(app);
  const { sub, sid } = JSON.parse(Buffer.from(account.token.split('.')[1]!, 'base64url').toString()) as { sub: string; sid: string };
  const nowSeconds = clock.now() / 1000;
  t.equal(clock.now() % 1000, 0, 'the clock stands on a whole second, so the boundaries below are exact');
  const statusWith = async (claims: Record<string, number>) =>
    (await app.inject({ url: '/api/auth/me', headers: authHeader(app.jwt.sign({ sub, sid, ...claims })) })).statusCode;
  t.equal(await statusWith({ exp: nowSeconds }), 200, 'valid through the second of exp');
  t.equal(await statusWith({ exp: nowSeconds - 1 }), 401, 'refused once exp has passed, though the session lives');
  t.equal(await statusWith({ exp: nowSeconds + 60, nbf: nowSeconds }), 200, 'valid from the second of nbf');
  t.equal(await statusWith({ exp: nowSeconds + 60, nbf: nowSeconds + 1 }), 401, 'refused before nbf');
  clock.advance(1000);
  t.equal(await statusWith({ exp: nowSeconds + 60, nbf: nowSeconds + 1 }), 200, 'and accepted once the service clock reaches it');
  t.equal(await statusWith({ exp: nowSeconds }), 401, 'the same exp is past one second later');
});

onBothEngines('logout revokes only the current token', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const account = await register(app);
  const second = (await login(app, account.email)).json().data.token as string;
  const out = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: account.headers });
  t.equal(out.statusCode, 200);
  t.same(out.json().data, { message: 'Logged out successfully' });
  t.equal((await app.inject({ url: '/api/auth/me', headers: account.headers })).statusCode, 401);
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(second) })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/logout' })).statusCode, 401);
});

onBothEngines('own sessions: list, revoke one, logout-all', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const account = await register(app);
  const other = await register(app);
  const second = (await app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'user-agent': 'cli/1.0' }, remoteAddress: '198.51.100.9', payload: { email: account.email, password: PASSWORD } })).json().data.token as string;
  const list = await app.inject({ url: '/api/auth/sessions', headers: account.headers });
  t.equal(list.statusCode, 200);
  const sessions = list.json().data as Array<{ id: string; current: boolean; ip: string; userAgent: string | null }>;
  t.equal(sessions.length, 2);
  t.equal(sessions.filter((s) => s.current).length, 1);
  const foreign = sessions.find((s) => !s.current)!;
  t.equal(foreign.ip, '198.51.100.9');
  t.equal(foreign.userAgent, 'cli/1.0');
  const otherTry = await app.inject({ method: 'DELETE', url: `/api/auth/sessions/${foreign.id}`, headers: other.headers });
  t.equal(otherTry.statusCode, 404, "another user's session is not found");
  const revoke = await app.inject({ method: 'DELETE', url: `/api/auth/sessions/${foreign.id}`, headers: account.headers });
  t.equal(revoke.statusCode, 200);
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(second) })).statusCode, 401, 'revoked session token stops working');
  const third = (await login(app, account.email)).json().data.token as string;
  const all = await app.inject({ method: 'POST', url: '/api/auth/logout-all', headers: account.headers });
  t.equal(all.statusCode, 200);
  t.equal((await app.inject({ url: '/api/auth/me', headers: account.headers })).statusCode, 401);
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(third) })).statusCode, 401);
  t.equal((await app.inject({ url: '/api/auth/me', headers: other.headers })).statusCode, 200, 'other users unaffected');
});

onBothEngines('change-password keeps this session, ends the others, checks the current password', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const account = await register(app);
  const other = (await login(app, account.email)).json().data.token as string;
  const wrong = await app.inject({ method: 'POST', url: '/api/auth/change-password', headers: account.headers, payload: { currentPassword: 'nope nope', newPassword: 'brand new password' } });
  t.equal(wrong.statusCode, 401);
  const short = await app.inject({ method: 'POST', url: '/api/auth/change-password', headers: account.headers, payload: { currentPassword: PASSWORD, newPassword: 'short' } });
  t.equal(short.statusCode, 400);
  t.equal(short.json().error, 'Password must be between 8 and 128 characters');
  const res = await app.inject({ method: 'POST', url: '/api/auth/change-password', headers: account.headers, payload: { currentPassword: PASSWORD, newPassword: 'brand new password' } });
  t.equal(res.statusCode, 200);
  t.equal((await app.inject({ url: '/api/auth/me', headers: account.headers })).statusCode, 200, 'current session kept');
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(other) })).statusCode, 401, 'other session revoked');
  t.equal((await login(app, account.email, PASSWORD)).statusCode, 401);
  t.equal((await login(app, account.email, 'brand new password')).statusCode, 200);
});

onBothEngines('an admin-created account from loopback is admin; health is enveloped', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  await registerAdmin(app);
  const health = await app.inject({ url: '/health' });
  t.equal(health.statusCode, 200);
  t.equal(health.json().data.db, 'connected');
});

onBothEngines('two racing first registrations from loopback make exactly one admin', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const results = await Promise.all(
    [uniqueEmail('race'), uniqueEmail('race'), uniqueEmail('race')].map((email) =>
      app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: '127.0.0.1', payload: { email, name: 'R', password: PASSWORD } }),
    ),
  );
  t.same(results.map((r) => r.statusCode), [201, 201, 201]);
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM users WHERE role = 'admin'`), 1);
});

onBothEngines('every contract path is in the OpenAPI document', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const doc = (await app.inject({ url: '/docs/json' })).json();
  const paths = [
    '/api/auth/register', '/api/auth/login', '/api/auth/logout', '/api/auth/me', '/api/auth/forgot-password', '/api/auth/reset-password',
    '/api/auth/change-password', '/api/auth/totp/setup', '/api/auth/totp/verify', '/api/auth/totp/disable', '/api/auth/totp/status',
    '/api/auth/totp/backup-codes', '/api/auth/export-data', '/api/auth/delete-account', '/api/billing/status', '/api/billing/checkout',
    '/api/billing/portal', '/api/billing/webhook', '/api/usage', '/api/usage/limits', '/api/usage/check', '/api/auth/api-keys',
    '/api/auth/api-keys/{id}', '/api/auth/sessions', '/api/auth/sessions/{id}', '/api/auth/logout-all', '/api/admin/users',
    '/api/admin/users/{id}', '/api/admin/sessions', '/api/admin/sessions/{id}', '/api/admin/audit-log', '/api/admin/stats', '/health',
  ];
  for (const path of paths) t.ok(doc.paths[path], path);
});
