import { authHeader } from '../helper.js';
import type { App } from '../../src/shared/base-app.js';
import { buildAuthOn, countIn, countOf, login, onBothEngines, register, registerAdmin, type AuthFixture } from './fixtures.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const me = (app: App, headers: Record<string, string>) => app.inject({ url: '/api/auth/me', headers });

async function signIn(app: App, email: string): Promise<{ id: string; headers: Record<string, string> }> {
  const res = await login(app, email);
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
  const headers = authHeader(res.json().data.token);
  const sessions = (await app.inject({ url: '/api/auth/sessions', headers })).json().data as Array<{ id: string; current: boolean }>;
  return { id: sessions.find((s) => s.current)!.id, headers };
}

const sessionRows = (fixture: AuthFixture, id: string) => countOf(fixture.storage, `SELECT count(*) AS n FROM sessions WHERE id = ?`, [id]);

onBothEngines('a session used every 7 hours stays valid until its 24-hour absolute expiry', async (t, engine) => {
  const { app, clock } = await buildAuthOn(t, engine);
  const account = await register(app);
  for (const hour of [7, 14, 21]) {
    clock.advance(7 * HOUR);
    t.equal((await me(app, account.headers)).statusCode, 200, `still valid at ${hour} h`);
  }
  clock.advance(3 * HOUR - MINUTE);
  t.equal((await me(app, account.headers)).statusCode, 200, 'valid one minute before the absolute expiry');
  clock.advance(7 * HOUR);
  const late = await me(app, account.headers);
  t.equal(late.statusCode, 401, 'activity does not extend the 24-hour lifetime (30 h after login)');
  t.equal(late.json().error, 'Invalid or expired token');
});

onBothEngines('8 hours and a minute of inactivity: 401 exactly like an expired token, and the row is gone', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, clock } = fixture;
  const account = await register(app);
  clock.advance(8 * HOUR - MINUTE);
  t.equal((await me(app, account.headers)).statusCode, 200, '7 h 59 min idle: still live');
  clock.advance(8 * HOUR + MINUTE);
  const idledOut = await me(app, account.headers);
  t.equal(idledOut.statusCode, 401, '8 h 1 min idle: refused');
  const rows = await countOf(fixture.storage, `SELECT count(*) AS n FROM sessions WHERE user_id = ?`, [account.id]);
  t.equal(rows, 0, 'the idled-out session is removed');

  // A session kept busy until its absolute expiry, for comparison: same status, same body.
  const busy = await signIn(app, account.email);
  for (let i = 0; i < 3; i++) {
    clock.advance(7 * HOUR);
    t.equal((await me(app, busy.headers)).statusCode, 200);
  }
  clock.advance(3 * HOUR + MINUTE);
  const expired = await me(app, busy.headers);
  t.equal(expired.statusCode, 401, 'expired 24 h after login, 3 h after its last use');
  t.same(idledOut.json(), expired.json());
  t.same(idledOut.json(), { ok: false, error: 'Invalid or expired token', code: 'UNAUTHORIZED' });
});

onBothEngines('AUTH_SESSION_IDLE_TIMEOUT_MS=0: a session never idles out, it still ends after 24 hours', async (t, engine) => {
  const { app, clock } = await buildAuthOn(t, engine, { env: { AUTH_SESSION_IDLE_TIMEOUT_MS: '0' } });
  const account = await register(app);
  clock.advance(24 * HOUR - MINUTE);
  t.equal((await me(app, account.headers)).statusCode, 200, 'idle for 23 h 59 min, still live');
  const listed = (await app.inject({ url: '/api/auth/sessions', headers: account.headers })).json().data;
  t.equal(listed.length, 1);
  clock.advance(MINUTE);
  t.equal((await me(app, account.headers)).statusCode, 401, 'absolute expiry still applies');
});

onBothEngines('a shorter timeout applies; GET /api/auth/sessions, the admin views, the GDPR export and the sweep treat idled-out sessions as gone', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine, { env: { AUTH_SESSION_IDLE_TIMEOUT_MS: String(30 * MINUTE) } });
  const { app, clock, storage } = fixture;
  const firstAdmin = await registerAdmin(app);
  const account = await register(app);
  const idle = await signIn(app, account.email);
  const stale = await signIn(app, account.email);
  clock.advance(20 * MINUTE);
  t.equal((await me(app, account.headers)).statusCode, 200, 'the registration session is used after 20 min');
  clock.advance(11 * MINUTE);

  // `idle` and `stale` were last used 31 minutes ago; the registration session 11 minutes ago.
  const listed = (await app.inject({ url: '/api/auth/sessions', headers: account.headers })).json().data as Array<{ id: string; current: boolean }>;
  t.equal(listed.length, 1, 'only the live session is listed');
  t.equal(listed[0]!.current, true);
  t.notOk(listed.some((s) => s.id === idle.id || s.id === stale.id));

  const exported = await app.inject({ url: '/api/auth/export-data', headers: account.headers });
  t.equal(exported.statusCode, 200);
  const exportedIds = (exported.json().data.sessions as Array<{ id: string; expiresAt: string }>).map((s) => s.id);
  t.same(exportedIds, [listed[0]!.id], 'the export shows no idled-out session');
  t.equal(await sessionRows(fixture, idle.id), 0, 'the export removed the idled-out rows');

  const admin = await signIn(app, firstAdmin.email);
  const adminList = (await app.inject({ url: '/api/admin/sessions', headers: admin.headers })).json();
  t.equal(adminList.pagination.total, 2, 'the admin list counts the two live sessions only');
  t.notOk((adminList.data as Array<{ id: string }>).some((s) => s.id === idle.id || s.id === stale.id));
  const stats = (await app.inject({ url: '/api/admin/stats', headers: admin.headers })).json().data;
  t.equal(stats.liveSessions, 2);
  const detail = (await app.inject({ url: `/api/admin/users/${account.id}`, headers: admin.headers })).json().data;
  t.equal(detail.sessions.length, 1, 'the admin user view lists only the live session');

  t.equal((await me(app, idle.headers)).statusCode, 401);
  t.equal((await me(app, stale.headers)).statusCode, 401);

  // The sweep removes idled-out rows that nobody came back with.
  const other = await register(app);
  clock.advance(31 * MINUTE);
  const swept = await fixture.jobs.maintenance.run();
  // Left: the admin's registration session (never used again), the admin's and the
  // account's sessions used 31 minutes ago, and the new account's.
  t.equal(swept.sessionsPurged, 4, 'every remaining session had idled out');
  t.equal(await countIn(storage, 'sessions'), 0);
  t.equal((await me(app, other.headers)).statusCode, 401);
});
