import { buildAuthOn, countIn, countOf, login, onBothEngines, PASSWORD, register, registerAdmin } from './fixtures.js';
import { testConfig, testDb } from '../helper.js';
import { selectRows, storageOn } from '../engines.js';
import { ManualClock } from '../../src/shared/clock.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { createAuditStore } from '../../src/auth/stores/audit.js';

onBothEngines('admin routes need role admin', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  await registerAdmin(app);
  const user = await register(app);
  for (const url of ['/api/admin/users', `/api/admin/users/${user.id}`, '/api/admin/sessions', '/api/admin/audit-log', '/api/admin/stats']) {
    const res = await app.inject({ url, headers: user.headers });
    t.equal(res.statusCode, 403, url);
    t.equal(res.json().error, 'Admin access required');
    t.equal((await app.inject({ url })).statusCode, 401);
  }
  const patch = await app.inject({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: user.headers, payload: { role: 'admin' } });
  t.equal(patch.statusCode, 403);
});

onBothEngines('user list: pagination, prefix search on e-mail or name, filters', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const admin = await registerAdmin(app, 'root@example.com');
  await register(app, { email: 'alice@example.com', name: 'Alice' });
  await register(app, { email: 'bob@example.com', name: 'Zed' });
  await register(app, { email: 'carol@example.com', name: 'Bobby' });
  const page1 = (await app.inject({ url: '/api/admin/users?limit=2&page=1', headers: admin.headers })).json();
  t.equal(page1.data.length, 2);
  t.same(page1.pagination, { total: 4, page: 1, limit: 2, pages: 2 });
  const search = (await app.inject({ url: '/api/admin/users?q=bob', headers: admin.headers })).json();
  t.same(search.data.map((u: { email: string }) => u.email).sort(), ['bob@example.com', 'carol@example.com']);
  const shape = search.data[0];
  t.same(Object.keys(shape).sort(), ['createdAt', 'email', 'id', 'lastLoginAt', 'name', 'planExpiresAt', 'role', 'suspended', 'tier', 'totpEnabled']);
  const wildcard = (await app.inject({ url: '/api/admin/users?q=%25', headers: admin.headers })).json();
  t.equal(wildcard.data.length, 0, 'LIKE wildcards are literal');
  const admins = (await app.inject({ url: '/api/admin/users?role=admin', headers: admin.headers })).json();
  t.equal(admins.data.length, 1);
  for (const query of ['limit=0', 'limit=201', 'page=0', 'role=root', 'tier=gold']) {
    t.equal((await app.inject({ url: `/api/admin/users?${query}`, headers: admin.headers })).statusCode, 400, query);
  }
});

onBothEngines('user detail', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const admin = await registerAdmin(app);
  const user = await register(app);
  const res = await app.inject({ url: `/api/admin/users/${user.id}`, headers: admin.headers });
  t.equal(res.statusCode, 200);
  const data = res.json().data;
  t.equal(data.user.id, user.id);
  t.equal(data.subscription, null);
  t.equal(data.sessions.length, 1);
  t.same(data.totp, { enabled: false, backupCodesRemaining: 0 });
  t.ok(data.recentAudit.length >= 1 && data.recentAudit.length <= 10);
  t.ok(Array.isArray(data.usage));
  t.equal((await app.inject({ url: '/api/admin/users/usr_nope', headers: admin.headers })).statusCode, 404);
});

onBothEngines('PATCH: tier keeps tokens, role change and suspension revoke them', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const admin = await registerAdmin(app);
  const user = await register(app);
  const tier = await app.inject({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: admin.headers, payload: { tier: 'pro', planExpiresAt: '2026-06-01T00:00:00Z' } });
  t.equal(tier.statusCode, 200);
  t.equal(tier.json().data.tier, 'pro');
  t.equal(tier.json().data.planExpiresAt, '2026-06-01T00:00:00.000Z');
  const me = await app.inject({ url: '/api/auth/me', headers: user.headers });
  t.equal(me.statusCode, 200, 'tier change revokes nothing');
  t.equal(me.json().data.tier, 'pro', 'tier read from the database at once');

  const promote = await app.inject({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: admin.headers, payload: { role: 'admin' } });
  t.equal(promote.json().data.role, 'admin');
  t.equal((await app.inject({ url: '/api/auth/me', headers: user.headers })).statusCode, 401, 'role change revokes sessions');

  const fresh = (await login(app, user.email)).json().data.token as string;
  const suspend = await app.inject({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: admin.headers, payload: { suspended: true } });
  t.equal(suspend.statusCode, 200);
  t.equal(suspend.json().data.suspended, true);
  t.equal((await app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${fresh}` } })).statusCode, 401, 'suspension revokes sessions');
  t.equal((await login(app, user.email)).statusCode, 403);

  for (const payload of [{}, { role: 'root' }, { tier: 'gold' }, { suspended: 'yes' }, { planExpiresAt: 'tomorrow' }, { email: 'x@example.com' }]) {
    const res = await app.inject({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: admin.headers, payload });
    t.equal(res.statusCode, 400, JSON.stringify(payload));
  }
  t.equal((await app.inject({ method: 'PATCH', url: '/api/admin/users/usr_nope', headers: admin.headers, payload: { tier: 'pro' } })).statusCode, 404);
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM audit_log WHERE action = 'admin.user.update'`), 3);
});

onBothEngines('PATCH: the last admin cannot be demoted or suspended, nor can an admin demote or suspend themselves', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const admin = await registerAdmin(app);
  const self = await app.inject({ method: 'PATCH', url: `/api/admin/users/${admin.id}`, headers: admin.headers, payload: { role: 'user' } });
  t.equal(self.statusCode, 409);
  const selfSuspend = await app.inject({ method: 'PATCH', url: `/api/admin/users/${admin.id}`, headers: admin.headers, payload: { suspended: true } });
  t.equal(selfSuspend.statusCode, 409);
  const selfTier = await app.inject({ method: 'PATCH', url: `/api/admin/users/${admin.id}`, headers: admin.headers, payload: { tier: 'enterprise' } });
  t.equal(selfTier.statusCode, 200, 'other changes to oneself are fine');

  const second = await register(app);
  await app.inject({ method: 'PATCH', url: `/api/admin/users/${second.id}`, headers: admin.headers, payload: { role: 'admin' } });
  const secondToken = (await login(app, second.email)).json().data.token as string;
  const demoteFirst = await app.inject({ method: 'PATCH', url: `/api/admin/users/${admin.id}`, headers: { authorization: `Bearer ${secondToken}` }, payload: { role: 'user' } });
  t.equal(demoteFirst.statusCode, 200, 'with two admins one may demote the other');
  const last = await app.inject({ method: 'PATCH', url: `/api/admin/users/${second.id}`, headers: { authorization: `Bearer ${secondToken}` }, payload: { suspended: true } });
  t.equal(last.statusCode, 409);
});

onBothEngines('sessions, audit log and stats', async (t, engine) => {
  const { app, storage, clock } = await buildAuthOn(t, engine);
  const admin = await registerAdmin(app);
  const user = await register(app);
  await login(app, user.email, 'wrong password');
  const sessions = (await app.inject({ url: '/api/admin/sessions?limit=1', headers: admin.headers })).json();
  t.equal(sessions.pagination.total, 2);
  t.equal(sessions.data.length, 1);
  const [userSession] = await selectRows<{ id: string }>(storage, `SELECT id FROM sessions WHERE user_id = ?`, [user.id]);
  const revoke = await app.inject({ method: 'DELETE', url: `/api/admin/sessions/${userSession!.id}`, headers: admin.headers });
  t.equal(revoke.statusCode, 200);
  t.equal((await app.inject({ url: '/api/auth/me', headers: user.headers })).statusCode, 401);
  t.equal((await app.inject({ method: 'DELETE', url: `/api/admin/sessions/${userSession!.id}`, headers: admin.headers })).statusCode, 404);

  const audit = (await app.inject({ url: '/api/admin/audit-log?action=login.failure', headers: admin.headers })).json();
  t.equal(audit.pagination.total, 1);
  t.equal(audit.data[0].targetId, user.id);
  t.notMatch(JSON.stringify(audit.data), /wrong password/);
  const byActor = (await app.inject({ url: `/api/admin/audit-log?actorId=${admin.id}`, headers: admin.headers })).json();
  t.ok(byActor.data.every((e: { actorId: string }) => e.actorId === admin.id));
  const future = (await app.inject({ url: '/api/admin/audit-log?since=2030-01-01T00:00:00Z', headers: admin.headers })).json();
  t.equal(future.pagination.total, 0);
  t.equal((await app.inject({ url: '/api/admin/audit-log?since=yesterday', headers: admin.headers })).statusCode, 400);
  const all = (await app.inject({ url: '/api/admin/audit-log', headers: admin.headers })).json();
  t.notOk(all.data.some((e: { details: object }) => JSON.stringify(e.details).includes(PASSWORD)), 'no passwords in audit');

  clock.advance(1000);
  const stats = (await app.inject({ url: '/api/admin/stats', headers: admin.headers })).json().data;
  t.equal(stats.users.total, 2);
  t.same(stats.users.byRole, { admin: 1, user: 1 });
  t.same(stats.users.byTier, { community: 2 });
  t.equal(stats.users.signupsByDay.length, 30);
  t.equal(stats.users.signupsByDay.at(-1).count, 2);
  t.equal(stats.liveSessions, 1);
  t.same(stats.twoFactor, { enabled: 0, percentage: 0 });
  t.equal(await countIn(storage, 'users'), 2);
});

onBothEngines('an audit entry is refused in a transaction that would commit without a sync', async (t, engine) => {
  // The trail must survive a power loss: a caller that forgot `durable: true` fails loudly.
  const postgres = await storageOn(engine);
  if (postgres) t.teardown(() => postgres.close());
  const storage = postgres ?? sqliteStorageOf(testDb(t, testConfig(t)));
  const audit = createAuditStore(storage, new ManualClock());
  const entry = { action: 'user.update', details: { field: 'role' } };
  await t.rejects(storage.transaction({ durable: false }, (tx) => audit.record(tx, entry)), /not durable/);
  t.equal(await countIn(storage, 'audit_log'), 0);
  await storage.transaction({ durable: true }, (tx) => audit.record(tx, entry));
  t.equal(await countIn(storage, 'audit_log'), 1);
});
