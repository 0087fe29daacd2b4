import type { Test } from 'tap';
import { toIso } from '../../src/shared/clock.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { codeAt } from '../../src/auth/services/totp-crypto.js';
import { breakOutbox, buildAuthOn, countOf, login, onBothEngines, PASSWORD, register, settled, wrongTotpCode, type AuthFixture } from './fixtures.js';
import { selectRows } from '../engines.js';

const PUBLIC_URL = 'https://auth.example.com';
const CLIENT_IP = '192.0.2.44';
const NO_GLOBAL = { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '100000', PUBLIC_AUTH_URL: PUBLIC_URL };

interface Mail {
  user_id: string | null;
  recipient: string;
  subject: string;
  body: string;
  status: string;
}

/** Every mail kept for an address, oldest first. */
const mailsTo = (storage: Storage, email: string): Promise<Mail[]> =>
  selectRows<Mail>(storage, `SELECT user_id, recipient, subject, body, status FROM outbox WHERE recipient = ? ORDER BY created_at, rowid`, [email]);

/** One new notice about `subject`: to the owner, with time, IP and the way back, and no secret. */
function assertNotice(t: Test, fixture: AuthFixture, mail: Mail | undefined, expect: { userId: string; email: string; subject: RegExp; ip: string; secrets: string[] }): void {
  t.ok(mail, 'a notice was queued');
  if (!mail) return;
  t.equal(mail.recipient, expect.email, 'sent to the account owner');
  t.equal(mail.user_id, expect.userId);
  t.equal(mail.status, 'stored', 'kept in the outbox without SMTP');
  t.match(mail.subject, expect.subject);
  t.match(mail.body, toIso(fixture.clock.now()), 'says when, in UTC ISO time');
  t.match(mail.body, `From IP address: ${expect.ip}`, 'says from where');
  t.match(mail.body, `${PUBLIC_URL}/forgot-password`, 'says what to do if it was not the owner');
  for (const secret of expect.secrets) t.notMatch(mail.body + mail.subject, secret, 'no secret in the notice');
}

onBothEngines('change-password mails one notice; a wrong current password mails nothing', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: { PUBLIC_AUTH_URL: PUBLIC_URL } });
  const { app, storage } = fixture;
  const account = await register(app);
  const change = (currentPassword: string, newPassword: string) =>
    app.inject({ method: 'POST', url: '/api/auth/change-password', remoteAddress: CLIENT_IP, headers: account.headers, payload: { currentPassword, newPassword } });

  t.equal((await change('not my password', 'a brand new password')).statusCode, 401);
  t.equal((await mailsTo(storage, account.email)).length, 0, 'a failed attempt sends nothing');
  t.equal((await change(PASSWORD, 'a brand new password')).statusCode, 200);
  const mails = await mailsTo(storage, account.email);
  t.equal(mails.length, 1, 'exactly one notice');
  assertNotice(t, fixture, mails[0], {
    userId: account.id,
    email: account.email,
    subject: /password was changed/,
    ip: CLIENT_IP,
    secrets: [PASSWORD, 'a brand new password', account.token],
  });
});

onBothEngines('reset-password mails one notice after the reset link; refused resets mail nothing', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: { PUBLIC_AUTH_URL: PUBLIC_URL } });
  const { app, storage } = fixture;
  const account = await register(app);
  await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: account.email } });
  await settled(app);
  const [resetMail] = await mailsTo(storage, account.email);
  const token = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(resetMail!.body)![1]!;
  const reset = (resetToken: string, newPassword: string) =>
    app.inject({ method: 'POST', url: '/api/auth/reset-password', remoteAddress: CLIENT_IP, payload: { token: resetToken, newPassword } });

  t.equal((await reset('made-up-token', 'a brand new password')).statusCode, 400);
  t.equal((await reset(token, 'password')).statusCode, 400, 'a common password is refused');
  t.equal((await mailsTo(storage, account.email)).length, 1, 'only the reset link so far');
  t.equal((await reset(token, 'a brand new password')).statusCode, 200);
  t.equal((await reset(token, 'another new password')).statusCode, 400, 'the used token is dead');
  const mails = await mailsTo(storage, account.email);
  t.equal(mails.length, 2, 'the reset link and exactly one notice');
  assertNotice(t, fixture, mails[1], {
    userId: account.id,
    email: account.email,
    subject: /password was reset/,
    ip: CLIENT_IP,
    secrets: [token, PASSWORD, 'a brand new password', 'another new password'],
  });
});

onBothEngines('two-factor enabled, backup codes regenerated and two-factor disabled: one notice each; wrong codes mail nothing', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: { PUBLIC_AUTH_URL: PUBLIC_URL } });
  const { app, storage, clock } = fixture;
  const account = await register(app);
  const post = (url: string, payload: Record<string, unknown>) => app.inject({ method: 'POST', url, remoteAddress: CLIENT_IP, headers: account.headers, payload });

  const setup = (await app.inject({ method: 'POST', url: '/api/auth/totp/setup', headers: account.headers })).json().data as { secret: string; backupCodes: string[] };
  t.equal((await post('/api/auth/totp/verify', { totpCode: wrongTotpCode(setup.secret, clock.now()) })).statusCode, 400);
  t.equal((await mailsTo(storage, account.email)).length, 0, 'setup and a wrong first code send nothing');
  t.equal((await post('/api/auth/totp/verify', { totpCode: codeAt(setup.secret, clock.now()) })).statusCode, 200);
  let mails = await mailsTo(storage, account.email);
  t.equal(mails.length, 1);
  const secrets = [setup.secret, ...setup.backupCodes, PASSWORD, account.token];
  assertNotice(t, fixture, mails[0], { userId: account.id, email: account.email, subject: /turned on/, ip: CLIENT_IP, secrets });

  clock.advance(30_000);
  t.equal((await post('/api/auth/totp/backup-codes', { totpCode: wrongTotpCode(setup.secret, clock.now()) })).statusCode, 401);
  t.equal((await mailsTo(storage, account.email)).length, 1, 'a wrong code sends nothing');
  const regenerated = await post('/api/auth/totp/backup-codes', { totpCode: codeAt(setup.secret, clock.now()) });
  t.equal(regenerated.statusCode, 200);
  const fresh = regenerated.json().data.backupCodes as string[];
  mails = await mailsTo(storage, account.email);
  t.equal(mails.length, 2);
  assertNotice(t, fixture, mails[1], { userId: account.id, email: account.email, subject: /backup codes/, ip: CLIENT_IP, secrets: [...secrets, ...fresh] });

  clock.advance(30_000);
  t.equal((await post('/api/auth/totp/disable', { password: 'not my password', totpCode: codeAt(setup.secret, clock.now()) })).statusCode, 401);
  t.equal((await post('/api/auth/totp/disable', { password: PASSWORD, totpCode: wrongTotpCode(setup.secret, clock.now()) })).statusCode, 401);
  t.equal((await post('/api/auth/totp/disable', { password: PASSWORD, backupCode: 'aaaaaaaaaa' })).statusCode, 401);
  t.equal((await mailsTo(storage, account.email)).length, 2, 'wrong password or code sends nothing');
  t.equal((await post('/api/auth/totp/disable', { password: PASSWORD, backupCode: fresh[0] })).statusCode, 200);
  mails = await mailsTo(storage, account.email);
  t.equal(mails.length, 3);
  assertNotice(t, fixture, mails[2], { userId: account.id, email: account.email, subject: /turned off/, ip: CLIENT_IP, secrets: [...secrets, ...fresh] });
});

onBothEngines('a login lockout mails the owner once when it begins, not on every attempt', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: NO_GLOBAL });
  const { app, storage, clock } = fixture;
  const account = await register(app);
  const attacker = '198.51.100.66';
  for (let i = 0; i < 4; i++) t.equal((await login(app, account.email, `guess number ${i}`, {}, attacker)).statusCode, 401);
  t.equal((await mailsTo(storage, account.email)).length, 0, 'failed logins below the limit send nothing');
  t.equal((await login(app, account.email, 'guess number 4', {}, attacker)).statusCode, 401, 'the fifth failure starts the lockout');
  let mails = await mailsTo(storage, account.email);
  t.equal(mails.length, 1, 'one notice when the lockout begins');
  assertNotice(t, fixture, mails[0], {
    userId: account.id,
    email: account.email,
    subject: /blocked/,
    ip: attacker,
    secrets: [PASSWORD, 'guess number'],
  });
  t.match(mails[0]!.body, /after 5 failed sign-in attempts/i);
  t.match(mails[0]!.body, /15 minutes/);

  for (let i = 0; i < 2; i++) t.equal((await login(app, account.email, PASSWORD, {}, attacker)).statusCode, 429);
  t.equal((await mailsTo(storage, account.email)).length, 1, 'attempts during the lockout send nothing more');
  t.equal((await login(app, account.email, PASSWORD, {}, '198.51.100.67')).statusCode, 200, 'the owner elsewhere still signs in');
  t.equal((await mailsTo(storage, account.email)).length, 1);

  // (The route's own limit of 10 logins per 15 minutes per IP runs on real time, so a
  // second lockout is shown from a second address rather than after the window.)
  const second = '198.51.100.68';
  for (let i = 0; i < 5; i++) t.equal((await login(app, account.email, 'wrong again', {}, second)).statusCode, 401);
  t.equal((await login(app, account.email, 'wrong again', {}, second)).statusCode, 429);
  mails = await mailsTo(storage, account.email);
  t.equal(mails.length, 2, 'another lockout, one more notice');
  t.match(mails[1]!.body, `From IP address: ${second}`);
  t.match(mails[1]!.body, toIso(clock.now()));

  for (let i = 0; i < 5; i++) await login(app, 'nobody@example.com', 'wrong', {}, '198.51.100.69');
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM outbox WHERE recipient = 'nobody@example.com'`), 0, 'no account, no mail');
});

onBothEngines('the account-wide lockout (all addresses) is reported once, as blocked from everywhere', async (t, engine) => {
  // RATE_LIMIT_SCALE=0.2: 1 failure per account and IP, 20 per account per hour.
  const fixture = await buildAuthOn(t, engine, { env: { ...NO_GLOBAL, RATE_LIMIT_SCALE: '0.2' } });
  const { app, storage } = fixture;
  const account = await register(app);
  for (let i = 0; i < 20; i++) t.equal((await login(app, account.email, 'wrong password', {}, `10.1.0.${i + 1}`)).statusCode, 401);
  t.equal((await login(app, account.email, 'wrong password', {}, '10.1.1.1')).statusCode, 429);
  const everywhere = (await mailsTo(storage, account.email)).filter((m) => /from everywhere/.test(m.body));
  t.equal(everywhere.length, 1, 'one notice for the account-wide lockout');
  t.match(everywhere[0]!.body, /after 20 failed sign-in attempts/i);
  t.match(everywhere[0]!.body, /From IP address: 10\.1\.0\.20/, 'names the address of the failure that started it');
  t.match(everywhere[0]!.body, /60 minutes/);
  t.match(everywhere[0]!.body, /except from addresses you signed in from in the last 30 days/, 'the owner learns where they can still sign in');
});

onBothEngines('a notice that cannot be queued does not fail the change it reports', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, storage } = fixture;
  const account = await register(app);
  await breakOutbox(storage, engine);
  const res = await app.inject({ method: 'POST', url: '/api/auth/change-password', headers: account.headers, payload: { currentPassword: PASSWORD, newPassword: 'a brand new password' } });
  t.equal(res.statusCode, 200);
  t.same(res.json().data, { message: 'Password changed successfully' });
  t.equal((await login(app, account.email, 'a brand new password')).statusCode, 200, 'the change was kept');
  t.equal((await mailsTo(storage, account.email)).length, 0);
});
