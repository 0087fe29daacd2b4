import t from 'tap';
import { SMTPServer } from 'smtp-server';
import { createServer } from 'node:net';
import { testConfig, countRows } from '../helper.js';
import { codeAt } from '../../src/auth/services/totp-crypto.js';
import { authHeader } from '../helper.js';
import { pino } from 'pino';
import { buildAuthApp } from '../../src/auth/app.js';
import { ManualClock } from '../../src/shared/clock.js';
import { buildTestApp } from '../helper.js';
import { buildAuth, enableTotp, login, PASSWORD, register, settled, wrongTotpCode, type AuthFixture } from './fixtures.js';
import type { App } from '../../src/shared/base-app.js';

/** forgot-password, then wait for the link it makes after answering. */
async function requestReset(app: App, email: string) {
  const res = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email } });
  await settled(app);
  return res;
}

function resetTokenFromOutbox(fixture: AuthFixture, email: string): string {
  const rows = fixture.db.prepare(`SELECT body FROM outbox WHERE recipient = ? AND subject LIKE '%password%' ORDER BY created_at DESC, rowid DESC`).all(email) as Array<{ body: string }>;
  const match = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(rows[0]?.body ?? '');
  if (!match) throw new Error('no reset mail');
  return match[1]!;
}

t.test('forgot-password always answers the same; a mail with the link goes to the outbox', async (t) => {
  const fixture = await buildAuth(t, { env: { PUBLIC_AUTH_URL: 'https://auth.example.com' } });
  const { app, db } = fixture;
  const account = await register(app);
  const expected = { ok: true, data: { message: 'If an account with that email exists, a reset link has been sent.' } };
  const known = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: ` ${account.email.toUpperCase()}` } });
  t.equal(known.statusCode, 200);
  t.same(known.json(), expected);
  const unknown = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: 'ghost@example.com' } });
  t.same(unknown.json(), expected);
  await settled(app);
  t.equal(countRows(db, 'outbox'), 1, 'only the real account gets mail');
  const body = (db.prepare(`SELECT body FROM outbox`).get() as { body: string }).body;
  t.match(body, /https:\/\/auth\.example\.com\/reset-password\?token=/);
  const token = resetTokenFromOutbox(fixture, account.email);
  const stored = db.prepare(`SELECT token_hash FROM password_reset_tokens`).get() as { token_hash: string };
  t.not(stored.token_hash, token, 'only a hash is stored');
  t.equal(Buffer.from(token, 'base64url').length, 32);
  const bad = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: 'nope' } });
  t.equal(bad.statusCode, 400);
});

t.test('forgot-password answers before the token and the mail are made, for a known and an unknown e-mail alike', async (t) => {
  const fixture = await buildAuth(t);
  const { app, db } = fixture;
  const account = await register(app);
  const audited = (action: string) => db.prepare(`SELECT target_id AS targetId, ip FROM audit_log WHERE action = ? ORDER BY rowid`).all(action);

  const known = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', remoteAddress: '192.0.2.80', payload: { email: account.email } });
  t.equal(known.statusCode, 200);
  t.equal(countRows(db, 'password_reset_tokens'), 0, 'no token yet when the answer arrives');
  t.equal(countRows(db, 'outbox'), 0, 'no mail yet when the answer arrives');
  t.same(audited('password_reset.request'), [], 'nothing written before the answer');
  await settled(app);
  t.equal(countRows(db, 'password_reset_tokens'), 1, 'the token is made after the answer');
  t.equal(countRows(db, 'outbox'), 1, 'and the mail with it');
  t.same(audited('password_reset.request'), [{ targetId: account.id, ip: '192.0.2.80' }]);

  const unknown = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', remoteAddress: '192.0.2.81', payload: { email: 'ghost@example.com' } });
  t.same(unknown.json(), known.json(), 'the same answer');
  await settled(app);
  t.equal(countRows(db, 'password_reset_tokens'), 1, 'no token for an unknown e-mail');
  t.equal(countRows(db, 'outbox'), 1, 'no mail for an unknown e-mail');
  t.same(audited('password_reset.request'), [{ targetId: account.id, ip: '192.0.2.80' }, { targetId: null, ip: '192.0.2.81' }], 'the request is audited either way, so both paths write the same');
});

t.test('work after the answer that fails is logged; the answer and later requests are unaffected', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
  const clock = new ManualClock();
  const { app, db } = await buildTestApp(t, (deps) => buildAuthApp({ ...deps, logger }, { scryptLogNOverride: 10 }), { env: { RATE_LIMIT_SCALE: '100' }, clock });
  const account = await register(app);
  db.exec(`CREATE TEMP TRIGGER outbox_down BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END`);
  const res = await requestReset(app, account.email);
  t.equal(res.statusCode, 200, 'the answer went out before the failure');
  const logged = lines.map((line) => JSON.parse(line) as { msg: string; err?: { message: string } });
  t.ok(logged.some((entry) => /after the answer/.test(entry.msg) && /outbox unavailable/.test(entry.err?.message ?? '')), 'the failure is logged with its cause');
  db.exec(`DROP TRIGGER outbox_down`);
  t.equal((await requestReset(app, account.email)).statusCode, 200);
  t.equal(countRows(db, 'outbox'), 1, 'the next request works');
});

t.test('closing the app waits for work still to be done after an answer', async (t) => {
  const fixture = await buildAuth(t);
  const account = await register(fixture.app);
  await fixture.app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: account.email } });
  await fixture.app.close();
  t.equal(countRows(fixture.db, 'outbox'), 1, 'the reset mail was made before close returned');
});

t.test('reset-password: works once, revokes every session, then the token is dead', async (t) => {
  const fixture = await buildAuth(t);
  const { app } = fixture;
  const account = await register(app);
  await requestReset(app, account.email);
  const token = resetTokenFromOutbox(fixture, account.email);
  const short = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token, newPassword: 'short' } });
  t.equal(short.statusCode, 400);
  t.equal(short.json().error, 'Password must be between 8 and 128 characters');
  const res = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token, newPassword: 'a fresh password' } });
  t.equal(res.statusCode, 200);
  t.same(res.json().data, { message: 'Password reset successfully' });
  t.equal((await app.inject({ url: '/api/auth/me', headers: account.headers })).statusCode, 401, 'sessions revoked');
  t.equal((await login(app, account.email, 'a fresh password')).statusCode, 200);
  t.equal((await login(app, account.email, PASSWORD)).statusCode, 401);
  const again = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token, newPassword: 'another password' } });
  t.equal(again.statusCode, 400);
  t.equal(again.json().error, 'Reset token is invalid or has expired');
  const made = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token: 'made-up', newPassword: 'another password' } });
  t.equal(made.json().error, 'Reset token is invalid or has expired');
});

t.test('a password reset keeps two-factor: the new password alone is not enough (ASVS 6.4.3)', async (t) => {
  const fixture = await buildAuth(t);
  const { app, clock, db } = fixture;
  const account = await register(app);
  const { secret } = await enableTotp(fixture, account);
  await requestReset(app, account.email);
  const token = resetTokenFromOutbox(fixture, account.email);
  const reset = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token, newPassword: 'a fresh password' } });
  t.equal(reset.statusCode, 200);

  const sessions = countRows(db, 'sessions');
  const passwordOnly = await login(app, account.email, 'a fresh password');
  t.equal(passwordOnly.statusCode, 200);
  t.same(passwordOnly.json(), { ok: false, error: '2FA_REQUIRED', totpRequired: true }, 'the second factor is still asked for');
  t.notOk(passwordOnly.json().data?.token, 'no token without the code');
  t.equal(countRows(db, 'sessions'), sessions, 'no session opened');

  const wrong = await login(app, account.email, 'a fresh password', { totpCode: wrongTotpCode(secret, clock.now()) });
  t.equal(wrong.statusCode, 401, 'a wrong code is still refused');
  const withCode = await login(app, account.email, 'a fresh password', { totpCode: codeAt(secret, clock.now()) });
  t.equal(withCode.statusCode, 200);
  t.equal(withCode.json().data.user.totpEnabled, true);
  const status = await app.inject({ url: '/api/auth/totp/status', headers: authHeader(withCode.json().data.token) });
  t.equal(status.statusCode, 200);
  t.same(status.json().data, { enabled: true, backupCodesRemaining: 10 }, 'two-factor and its backup codes are untouched');
});

t.test('reset tokens expire after one hour; a new request voids the older token', async (t) => {
  const fixture = await buildAuth(t);
  const { app, clock, db } = fixture;
  const account = await register(app);
  await requestReset(app, account.email);
  const first = resetTokenFromOutbox(fixture, account.email);
  clock.advance(1000);
  await requestReset(app, account.email);
  const second = resetTokenFromOutbox(fixture, account.email);
  t.not(first, second);
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token: first, newPassword: 'new password 1' } })).statusCode, 400, 'older token voided');
  clock.advance(60 * 60 * 1000);
  const late = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token: second, newPassword: 'new password 2' } });
  t.equal(late.statusCode, 400, 'expired after one hour');
  t.equal((await app.inject({ url: '/api/auth/me', headers: account.headers })).statusCode, 200, 'nothing changed');
  t.equal(countRows(db, 'outbox'), 2, 'both reset mails still kept before the sweep');
  await fixture.jobs.maintenance.run();
  t.equal(countRows(db, 'outbox'), 0, 'the sweep purges mail whose token has expired');
});

t.test('with SMTP_URL the mail goes through a real SMTP server, retried after a failure', async (t) => {
  const received: Array<{ to: string; raw: string }> = [];
  let rejectNext = 1;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      stream.on('end', () => {
        if (rejectNext > 0) {
          rejectNext -= 1;
          const error = new Error('try again later') as Error & { responseCode: number };
          error.responseCode = 451;
          return callback(error);
        }
        received.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.server.address() as { port: number }).port;

  const fixture = await buildAuth(t, {
    env: { SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'Panguard <noreply@example.com>' },
    app: { mailRetryDelaysMs: [50, 50] },
  });
  const { app, db } = fixture;
  const account = await register(app);
  const res = await requestReset(app, account.email);
  t.equal(res.statusCode, 200);
  // The first attempt is refused and the retry waits 50 ms: a response that waited for
  // delivery would find the row sent already.
  t.equal((db.prepare(`SELECT status FROM outbox`).get() as { status: string }).status, 'pending', 'the response does not wait for SMTP');
  const status = () => (db.prepare(`SELECT status FROM outbox`).get() as { status: string }).status;
  for (let i = 0; i < 500 && (received.length === 0 || status() !== 'sent'); i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(received.length, 1, 'delivered after one failed attempt');
  t.equal(received[0]!.to, account.email);
  t.match(received[0]!.raw, /reset-password\?token=/);
  const row = db.prepare(`SELECT status, attempts, body FROM outbox`).get() as { status: string; attempts: number; body: string };
  t.equal(row.status, 'sent');
  t.equal(row.attempts, 2);
  t.equal(row.body, '', 'a sent body (with its link) is not kept');
});

t.test('a send that keeps failing is kept as failed, never lost silently', async (t) => {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      const error = new Error('mailbox unavailable') as Error & { responseCode: number };
      error.responseCode = 550;
      callback(error);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.server.address() as { port: number }).port;
  const fixture = await buildAuth(t, { env: { SMTP_URL: `smtp://127.0.0.1:${port}` }, app: { mailRetryDelaysMs: [20] } });
  const account = await register(fixture.app);
  await requestReset(fixture.app, account.email);
  let row: { status: string; attempts: number } | undefined;
  for (let i = 0; i < 500; i++) {
    row = fixture.db.prepare(`SELECT status, attempts FROM outbox`).get() as typeof row;
    if (row?.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(row?.status, 'failed');
  t.equal(row?.attempts, 2);
});

t.test('forgot and reset are limited to 5 per 15 minutes per IP', async (t) => {
  const { app } = await buildAuth(t, { env: { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '1000' } });
  for (let i = 0; i < 5; i++) {
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: 'x@example.com' } })).statusCode, 200);
  }
  const limited = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: 'x@example.com' } });
  t.equal(limited.statusCode, 429);
  t.ok(limited.headers['retry-after']);
  const other = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', remoteAddress: '192.0.2.1', payload: { email: 'x@example.com' } });
  t.equal(other.statusCode, 200, 'another IP has its own budget');
  for (let i = 0; i < 5; i++) await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token: 'x', newPassword: 'whatever1' } });
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token: 'x', newPassword: 'whatever1' } })).statusCode, 429);
});

t.test('a message still pending when the app closes is sent on the next start', async (t) => {
  const closedPort = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const first = await buildAuth(t, { env: { SMTP_URL: `smtp://127.0.0.1:${closedPort}` }, app: { mailRetryDelaysMs: [60_000] } });
  const account = await register(first.app);
  await requestReset(first.app, account.email);
  const row = () => first.db.prepare(`SELECT status, attempts FROM outbox`).get() as { status: string; attempts: number };
  for (let i = 0; i < 500 && row().attempts === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(row(), { status: 'pending', attempts: 1 }, 'first attempt failed, retry scheduled');
  await first.app.close();

  const received: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        received.push(session.envelope.rcptTo.map((r) => r.address).join(','));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.server.address() as { port: number }).port;
  const config = testConfig(t, { SMTP_URL: `smtp://127.0.0.1:${port}`, RATE_LIMIT_SCALE: '100' });
  await buildAuth(t, { db: first.db, config });
  for (let i = 0; i < 500 && row().status !== 'sent'; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(row().status, 'sent');
  t.same(received, [account.email]);
});
