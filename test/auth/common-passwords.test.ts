import { createRequire } from 'node:module';
import t from 'tap';
import { COMMON_PASSWORD_MESSAGE, isCommonPassword } from '../../src/auth/services/common-passwords.js';
import { buildAuth, login, PASSWORD, register, settled } from './fixtures.js';
import { countRows } from '../helper.js';

// First in this file: nothing before it may have checked a password.
t.test('the dictionary is loaded by the first check, not at start-up', async (t) => {
  const require = createRequire(import.meta.url);
  const dictionary = require.resolve('@zxcvbn-ts/language-common');
  t.notOk(dictionary in require.cache, 'importing the module (as the Auth Server does) leaves it unloaded');
  t.ok(isCommonPassword('password1'), 'the first check answers from it');
  t.ok(dictionary in require.cache, 'loaded once a password is checked');
});

t.test('the list refuses well-known passwords of policy length, whatever their case', async (t) => {
  for (const word of ['password', 'Password1', '12345678', 'qwertyuiop', 'iloveyou', 'SUNSHINE']) t.ok(isCommonPassword(word), word);
  for (const word of [PASSWORD, 'brand new password', 'tr0ub4dor&3-horse']) t.notOk(isCommonPassword(word), word);
});

t.test('register, change-password and reset-password refuse a common password with a 400', async (t) => {
  const fixture = await buildAuth(t);
  const { app, db } = fixture;
  const refused = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: 'c@example.com', name: 'C', password: 'iloveyou1' } });
  t.equal(refused.statusCode, 400);
  t.same(refused.json(), { ok: false, error: COMMON_PASSWORD_MESSAGE, code: 'COMMON_PASSWORD' });
  t.equal(countRows(db, 'users'), 0, 'nothing stored');

  const account = await register(app);
  const change = await app.inject({ method: 'POST', url: '/api/auth/change-password', headers: account.headers, payload: { currentPassword: PASSWORD, newPassword: 'baseball' } });
  t.equal(change.statusCode, 400);
  t.equal(change.json().error, COMMON_PASSWORD_MESSAGE);
  t.equal((await login(app, account.email, PASSWORD)).statusCode, 200, 'the old password still works');

  await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: account.email } });
  await settled(app);
  const mail = db.prepare(`SELECT body FROM outbox WHERE recipient = ? ORDER BY created_at DESC LIMIT 1`).get(account.email) as { body: string };
  const token = /token=([A-Za-z0-9_-]+)/.exec(mail.body)![1]!;
  const reset = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token, newPassword: 'football' } });
  t.equal(reset.statusCode, 400);
  t.equal(reset.json().error, COMMON_PASSWORD_MESSAGE);
  const retry = await app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token, newPassword: 'an uncommon choice' } });
  t.equal(retry.statusCode, 200, 'a refused password does not burn the emailed token');
});
