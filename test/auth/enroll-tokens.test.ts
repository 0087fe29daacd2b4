import { sha256Hex } from '../../src/shared/tokens.js';
import { authHeader } from '../helper.js';
import { selectRows } from '../engines.js';
import { buildAuthOn, countIn, login, onBothEngines, register, type Account } from './fixtures.js';
import type { App } from '../../src/shared/base-app.js';

const ENROLL_TOKEN = /^pge_[0-9A-Za-z]{40}$/;
const DAY_MS = 24 * 60 * 60 * 1000;

const create = (app: App, account: Account, payload: unknown) =>
  app.inject({ method: 'POST', url: '/api/auth/enroll-tokens', headers: account.headers, payload: payload as Record<string, unknown> });
const list = (app: App, account: Account) => app.inject({ url: '/api/auth/enroll-tokens', headers: account.headers });
const revoke = (app: App, account: Account, id: string) => app.inject({ method: 'DELETE', url: `/api/auth/enroll-tokens/${id}`, headers: account.headers });

onBothEngines('a new enrollment token is shown once, for the owner org, and stored only as SHA-256', async (t, engine) => {
  const { app, storage, clock } = await buildAuthOn(t, engine);
  const account = await register(app);
  const res = await create(app, account, { name: 'laptops' });
  t.equal(res.statusCode, 201, res.body);
  const data = res.json().data;
  t.same(Object.keys(data).sort(), ['createdAt', 'expiresAt', 'id', 'name', 'orgId', 'prefix', 'token']);
  t.match(data.id, /^enr_/);
  t.match(data.token, ENROLL_TOKEN);
  t.equal(data.prefix, data.token.slice(0, 8));
  t.equal(data.name, 'laptops');
  t.equal(data.orgId, account.id, "the owner's org is the owner's id");
  t.equal(data.createdAt, new Date(clock.now()).toISOString());
  t.equal(data.expiresAt, new Date(clock.now() + 30 * DAY_MS).toISOString(), 'default expiry 30 days');

  const rows = JSON.stringify(await selectRows(storage, 'SELECT * FROM enroll_tokens'));
  t.notMatch(rows, data.token, 'the secret is not stored');
  t.match(rows, sha256Hex(data.token), 'its digest is');

  const week = (await create(app, account, { name: 'servers', expiresInDays: 7 })).json().data;
  t.equal(week.expiresAt, new Date(clock.now() + 7 * DAY_MS).toISOString());
  t.equal((await create(app, account, { name: 'yearly', expiresInDays: 365 })).statusCode, 201);
});

onBothEngines('the list has no secrets: neither the token nor its digest', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const account = await register(app);
  const { token, id } = (await create(app, account, { name: 'laptops' })).json().data;
  const res = await list(app, account);
  t.equal(res.statusCode, 200);
  const items = res.json().data;
  t.equal(items.length, 1);
  t.same(Object.keys(items[0]).sort(), ['agentsEnrolled', 'createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'orgId', 'prefix']);
  t.equal(items[0].id, id);
  t.equal(items[0].lastUsedAt, null);
  t.equal(items[0].agentsEnrolled, 0);
  t.notOk(res.body.includes(token), 'raw token absent');
  t.notOk(res.body.includes(sha256Hex(token)), 'digest absent');
  t.notOk(res.body.includes(token.slice(8)), 'no part beyond the prefix');

  const other = await register(app);
  t.same((await list(app, other)).json().data, [], "another user's tokens are not listed");
  t.equal((await app.inject({ url: '/api/auth/enroll-tokens' })).statusCode, 401);
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/enroll-tokens', payload: { name: 'x' } })).statusCode, 401);
});

onBothEngines('bodies are validated without coercion and the message names the field', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const account = await register(app);
  for (const payload of [
    {},
    { name: '' },
    { name: 'x'.repeat(101) },
    { name: 42 },
    { name: 'ok', expiresInDays: 0 },
    { name: 'ok', expiresInDays: 366 },
    { name: 'ok', expiresInDays: 1.5 },
    { name: 'ok', expiresInDays: '30' },
    { name: 'ok', expiresInDays: null },
    { name: ['ok'] },
  ]) {
    const res = await create(app, account, payload);
    t.equal(res.statusCode, 400, JSON.stringify(payload));
    t.match(res.json().error, /name|expiresInDays/, JSON.stringify(payload));
  }
  t.equal(await countIn(storage, 'enroll_tokens'), 0);
});

onBothEngines('at most 10 live tokens; revoked and expired ones make room', async (t, engine) => {
  const { app, clock } = await buildAuthOn(t, engine);
  const account = await register(app);
  const ids: string[] = [];
  for (let i = 0; i < 10; i += 1) {
    const res = await create(app, account, { name: `t${i}`, expiresInDays: i === 0 ? 1 : 30 });
    t.equal(res.statusCode, 201);
    ids.push(res.json().data.id);
  }
  const eleventh = await create(app, account, { name: 'one too many' });
  t.equal(eleventh.statusCode, 409);
  t.same(eleventh.json(), { ok: false, error: 'Too many enrollment tokens', code: 'CONFLICT' });
  t.equal((await create(app, await register(app), { name: 'other user' })).statusCode, 201, 'the limit is per user');

  t.equal((await revoke(app, account, ids[1]!)).statusCode, 200);
  t.equal((await create(app, account, { name: 'after revoke' })).statusCode, 201, 'a revoked token is not live');
  t.equal((await create(app, account, { name: 'still too many' })).statusCode, 409);
  clock.advance(DAY_MS + 1);
  // The session has lapsed with the day as well.
  const relogged = { ...account, headers: authHeader((await login(app, account.email)).json().data.token) };
  t.equal((await create(app, relogged, { name: 'after expiry' })).statusCode, 201, 'an expired token is not live');
  t.equal((await list(app, relogged)).json().data.length, 11, 'expired tokens stay listed until revoked');
});

onBothEngines('revocation: 200 once, 404 for unknown, revoked or foreign tokens; audited without secrets', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const account = await register(app);
  const other = await register(app);
  const mine = (await create(app, account, { name: 'mine' })).json().data;
  const theirs = (await create(app, other, { name: 'theirs' })).json().data;

  const foreign = await revoke(app, account, theirs.id);
  t.equal(foreign.statusCode, 404);
  t.equal(foreign.json().error, 'Enrollment token not found');
  t.equal((await revoke(app, account, 'enr_unknown')).statusCode, 404);
  const res = await revoke(app, account, mine.id);
  t.equal(res.statusCode, 200);
  t.same(res.json().data, { revoked: true });
  t.equal((await revoke(app, account, mine.id)).statusCode, 404, 'already revoked');
  t.same((await list(app, account)).json().data, [], 'revoked tokens leave the list');
  t.equal((await list(app, other)).json().data.length, 1, "the other user's token is untouched");

  const audit = await selectRows<{ action: string; actor_id: string; details: string }>(
    storage,
    `SELECT action, actor_id, target_id, details FROM audit_log WHERE action LIKE 'enroll_token.%' ORDER BY created_at, rowid`,
  );
  t.same(audit.map((a) => [a.action, a.actor_id]), [
    ['enroll_token.create', account.id],
    ['enroll_token.create', other.id],
    ['enroll_token.revoke', account.id],
  ]);
  const trail = JSON.stringify(audit);
  t.match(trail, mine.id);
  for (const token of [mine.token, theirs.token]) {
    t.notOk(trail.includes(token), 'no secret in the audit trail');
    t.notOk(trail.includes(sha256Hex(token)), 'no digest in the audit trail');
  }
});

onBothEngines('the enrollment token routes are in the OpenAPI document', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const doc = (await app.inject({ url: '/docs/json' })).json();
  t.ok(doc.paths['/api/auth/enroll-tokens']?.post);
  t.ok(doc.paths['/api/auth/enroll-tokens']?.get);
  t.ok(doc.paths['/api/auth/enroll-tokens/{id}']?.delete);
});
