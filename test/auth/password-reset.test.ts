import t from 'tap';
import { SMTPServer } from 'smtp-server';
import { createServer } from 'node:net';
import { testConfig } from '../helper.js';
import { codeAt } from '../../src/auth/services/totp-crypto.js';
import { authHeader } from '../helper.js';
import { pino } from 'pino';
import { buildAuthApp } from '../../src/auth/app.js';
import { ManualClock } from '../../src/shared/clock.js';
import { buildTestApp } from '../helper.js';
import {
  breakOutbox,
  buildAuth,
  buildAuthOn,
  countIn,
  enableTotp,
  login,
  onBothEngines,
  PASSWORD,
  register,
  settled,
  wrongTotpCode,
  type AuthFixture,
} from './fixtures.js';
import type { App } from '../../src/shared/base-app.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { borrowed, selectRows, storageOn } from '../engines.js';

/** forgot-password, then wait for the link it makes after answering. */
async function requestReset(app: App, email: string) {
  const res = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email } });
  await settled(app);
  return res;
}

async function resetTokenFromOutbox(fixture: AuthFixture, email: string): Promise<string> {
  const rows = await selectRows<{ body: string }>(fixture.storage, `SELECT body FROM outbox WHERE recipient = ? AND subject LIKE '%password%' ORDER BY created_at DESC, rowid DESC`, [email]);
  const match = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(rows[0]?.body ?? '');
  if (!match) throw new Error('no reset mail');
  return match[1]!;
}

/** The one outbox row the test made, read through the port the app runs on. */
async function onlyMail<Row>(storage: Storage, columns: string): Promise<Row | undefined> {
  const [row] = await selectRows<Row>(storage, `SELECT ${columns} FROM outbox`);
  return row;
}

onBothEngines('forgot-password always answers the same; a mail with the link goes to the outbox', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: { PUBLIC_AUTH_URL: 'https://auth.example.com' } });
  const { app, storage } = fixture;
  const account = await register(app);
  const expected = { ok: true, data: { message: 'If an account with that email exists, a reset link has been sent.' } };
  const known = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: ` ${account.email.toUpperCase()}` } });
  t.equal(known.statusCode, 200);
  t.same(known.json(), expected);
  const unknown = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: 'ghost@example.com' } });
  t.same(unknown.json(), expected);
  await settled(app);
  t.equal(await countIn(storage, 'outbox'), 1, 'only the real account gets mail');
  const body = (await onlyMail<{ body: string }>(storage, 'body'))!.body;
  t.match(body, /https:\/\/auth\.example\.com\/reset-password\?token=/);
  const token = await resetTokenFromOutbox(fixture, account.email);
  const [stored] = await selectRows<{ token_hash: string }>(storage, `SELECT token_hash FROM password_reset_tokens`);
  t.not(stored!.token_hash, token, 'only a hash is stored');
  t.equal(Buffer.from(token, 'base64url').length, 32);
  const bad = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: 'nope' } });
  t.equal(bad.statusCode, 400);
});

onBothEngines('forgot-password answers before the token and the mail are made, for a known and an unknown e-mail alike', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, storage } = fixture;
  const account = await register(app);
  const audited = (action: string) => selectRows(storage, `SELECT target_id AS "targetId", ip FROM audit_log WHERE action = ? ORDER BY rowid`, [action]);

  const known = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', remoteAddress: '192.0.2.80', payload: { email: account.email } });
  t.equal(known.statusCode, 200);
  t.equal(await countIn(storage, 'password_reset_tokens'), 0, 'no token yet when the answer arrives');
  t.equal(await countIn(storage, 'outbox'), 0, 'no mail yet when the answer arrives');
  t.same(await audited('password_reset.request'), [], 'nothing written before the answer');
  await settled(app);
  t.equal(await countIn(storage, 'password_reset_tokens'), 1, 'the token is made after the answer');
  t.equal(await countIn(storage, 'outbox'), 1, 'and the mail with it');
  t.same(await audited('password_reset.request'), [{ targetId: account.id, ip: '192.0.2.80' }]);

  const unknown = await app.inject({ method: 'POST', url: '/api/auth/forgot-password', remoteAddress: '192.0.2.81', payload: { email: 'ghost@example.com' } });
  t.same(unknown.json(), known.json(), 'the same answer');
  await settled(app);
  t.equal(await countIn(storage, 'password_reset_tokens'), 1, 'no token for an unknown e-mail');
  t.equal(await countIn(storage, 'outbox'), 1, 'no mail for an unknown e-mail');
  t.same(await audited('password_reset.request'), [{ targetId: account.id, ip: '192.0.2.80' }, { targetId: null, ip: '192.0.2.81' }], 'the request is audited either way, so both paths write the same');
});

onBothEngines('work after the answer that fails is logged; the answer and later requests are unaffected', async (t, engine) => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
  const clock = new ManualClock();
  const given = await storageOn(engine);
  const { app, storage } = await buildTestApp(t, (deps) => buildAuthApp({ ...deps, logger }, { scryptLogNOverride: 10 }), {
    env: { RATE_LIMIT_SCALE: '100' },
    clock,
    ...(given ? { storage: given } : {}),
  });
  const account = await register(app);
  const repairOutbox = await breakOutbox(storage, engine);
  const res = await requestReset(app, account.email);
  t.equal(res.statusCode, 200, 'the answer went out before the failure');
  const logged = lines.map((line) => JSON.parse(line) as { msg: string; err?: { message: string } });
  t.ok(logged.some((entry) => /after the answer/.test(entry.msg) && /outbox unavailable/.test(entry.err?.message ?? '')), 'the failure is logged with its cause');
  await repairOutbox();
  t.equal((await requestReset(app, account.email)).statusCode, 200);
  t.equal(await countIn(storage, 'outbox'), 1, 'the next request works');
});

onBothEngines('closing the app waits for work still to be done after an answer', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const account = await register(fixture.app);
  await fixture.app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: account.email } });
  await fixture.app.close();
  t.equal(await countIn(fixture.storage, 'outbox'), 1, 'the reset mail was made before close returned');
});

onBothEngines('reset-password: works once, revokes every session, then the token is dead', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app } = fixture;
  const account = await register(app);
  await requestReset(app, account.email);
  const token = await resetTokenFromOutbox(fixture, account.email);
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

onBothEngines('a password reset keeps two-factor: the new password alone is not enough (ASVS 6.4.3)', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, clock, storage } = fixture;
  const account = await register(app);
  const { secret } = await enableTotp(fixture, account);
  await requestReset(app, account.email);
  const token = await resetTokenFromOutbox(fixture, account.email);
  const reset = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token, newPassword: 'a fresh password' } });
  t.equal(reset.statusCode, 200);

  const sessions = await countIn(storage, 'sessions');
  const passwordOnly = await login(app, account.email, 'a fresh password');
  t.equal(passwordOnly.statusCode, 200);
  t.same(passwordOnly.json(), { ok: false, error: '2FA_REQUIRED', totpRequired: true }, 'the second factor is still asked for');
  t.notOk(passwordOnly.json().data?.token, 'no token without the code');
  t.equal(await countIn(storage, 'sessions'), sessions, 'no session opened');

  const wrong = await login(app, account.email, 'a fresh password', { totpCode: wrongTotpCode(secret, clock.now()) });
  t.equal(wrong.statusCode, 401, 'a wrong code is still refused');
  const withCode = await login(app, account.email, 'a fresh password', { totpCode: codeAt(secret, clock.now()) });
  t.equal(withCode.statusCode, 200);
  t.equal(withCode.json().data.user.totpEnabled, true);
  const status = await app.inject({ url: '/api/auth/totp/status', headers: authHeader(withCode.json().data.token) });
  t.equal(status.statusCode, 200);
  t.same(status.json().data, { enabled: true, backupCodesRemaining: 10 }, 'two-factor and its backup codes are untouched');
});

onBothEngines('reset tokens expire after one hour; a new request voids the older token', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, clock, storage } = fixture;
  const account = await register(app);
  await requestReset(app, account.email);
  const first = await resetTokenFromOutbox(fixture, account.email);
  clock.advance(1000);
  await requestReset(app, account.email);
  const second = await resetTokenFromOutbox(fixture, account.email);
  t.not(first, second);
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token: first, newPassword: 'new password 1' } })).statusCode, 400, 'older token voided');
  clock.advance(60 * 60 * 1000);
  const late = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token: second, newPassword: 'new password 2' } });
  t.equal(late.statusCode, 400, 'expired after one hour');
  t.equal((await app.inject({ url: '/api/auth/me', headers: account.headers })).statusCode, 200, 'nothing changed');
  t.equal(await countIn(storage, 'outbox'), 2, 'both reset mails still kept before the sweep');
  await fixture.jobs.maintenance.run();
  t.equal(await countIn(storage, 'outbox'), 0, 'the sweep purges mail whose token has expired');
});

onBothEngines('with SMTP_URL the mail goes through a real SMTP server, retried after a failure', async (t, engine) => {
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

  const fixture = await buildAuthOn(t, engine, {
    env: { SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'Panguard <noreply@example.com>' },
    app: { mailRetryDelaysMs: [50, 50] },
  });
  const { app, storage } = fixture;
  const account = await register(app);
  const res = await requestReset(app, account.email);
  t.equal(res.statusCode, 200);
  // The first attempt is refused and the retry waits 50 ms: a response that waited for
  // delivery would find the row sent already.
  const status = async () => (await onlyMail<{ status: string }>(storage, 'status'))!.status;
  t.equal(await status(), 'pending', 'the response does not wait for SMTP');
  for (let i = 0; i < 500 && (received.length === 0 || (await status()) !== 'sent'); i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(received.length, 1, 'delivered after one failed attempt');
  t.equal(received[0]!.to, account.email);
  t.match(received[0]!.raw, /reset-password\?token=/);
  const row = (await onlyMail<{ status: string; attempts: number; body: string }>(storage, 'status, attempts, body'))!;
  t.equal(row.status, 'sent');
  t.equal(row.attempts, 2);
  t.equal(row.body, '', 'a sent body (with its link) is not kept');
});

onBothEngines('a send that keeps failing is kept as failed, never lost silently', async (t, engine) => {
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
  const fixture = await buildAuthOn(t, engine, { env: { SMTP_URL: `smtp://127.0.0.1:${port}` }, app: { mailRetryDelaysMs: [20] } });
  const account = await register(fixture.app);
  await requestReset(fixture.app, account.email);
  let row: { status: string; attempts: number } | undefined;
  for (let i = 0; i < 500; i++) {
    row = await onlyMail<{ status: string; attempts: number }>(fixture.storage, 'status, attempts');
    if (row?.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(row?.status, 'failed');
  t.equal(row?.attempts, 2);
});

onBothEngines('forgot and reset are limited to 5 per 15 minutes per IP', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine, { env: { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '1000' } });
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

onBothEngines('a message still pending when the app closes is sent on the next start', async (t, engine) => {
  const closedPort = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  // The second app runs on the first one's database: on PostgreSQL the first borrows the
  // storage, so closing it leaves the pool open for the second, which closes it at the end.
  const shared = await storageOn(engine);
  const first = await buildAuth(t, {
    env: { SMTP_URL: `smtp://127.0.0.1:${closedPort}` },
    app: { mailRetryDelaysMs: [60_000] },
    ...(shared ? { storage: borrowed(shared) } : {}),
  });
  const account = await register(first.app);
  await requestReset(first.app, account.email);
  const row = async () => (await onlyMail<{ status: string; attempts: number }>(first.storage, 'status, attempts'))!;
  for (let i = 0; i < 500 && (await row()).attempts === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(await row(), { status: 'pending', attempts: 1 }, 'first attempt failed, retry scheduled');
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
  await buildAuth(t, { config, ...(shared ? { storage: shared } : { db: first.db }) });
  for (let i = 0; i < 500 && (await row()).status !== 'sent'; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal((await row()).status, 'sent');
  t.same(received, [account.email]);
});
