import t, { type Test } from 'tap';
import { MIGRATIONS } from '../../src/migrations/index.js';
import type { App } from '../../src/shared/base-app.js';
import { COUNT_CAP } from '../../src/shared/capped-total.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { countRows, filterCombinations, testConfig } from '../helper.js';
import { prepareUserSeeder, seedUser } from '../seed.js';
import { buildAuth, enableTotp, PASSWORD, register, registerAdmin, type Account, type AuthFixture } from './fixtures.js';

const DAY = 86_400_000;

/** Accounts written straight into the table (the counters follow by trigger): awkward e-mails and names, ties in time. */
function insertUsers(db: Db, now: number): void {
  const seed = prepareUserSeeder(db);
  const people: Array<[string, string]> = [
    ['alice@example.com', 'Alice Smith'], ['alicia@example.org', 'alice'], ['ALI.UPPER@EXAMPLE.COM', 'ALICE'], ['bob@example.com', 'Bob_Builder'],
    ['per%cent@example.com', '100% Real'], ['under_score@example.com', 'Under Score'], ['back\\slash@example.com', 'Back Slash'],
    ['émile@example.com', 'Émile Zola'], ['Émilie@example.com', 'émilie'], ['zoe@example.com', 'Zoë'], ['omega@example.com', 'Ωmega'],
    ['smile@example.com', '😀 Smile'], ['handle@example.com', '@handle'], ['bracket@example.com', '[bracket'], ['at@example.com', 'at'],
  ];
  const roles = ['user', 'user', 'admin'] as const;
  const tiers = ['community', 'solo', 'pro', 'community', 'enterprise'] as const;
  db.transaction(() => {
    people.forEach(([email, name], i) => {
      // Three accounts share each creation time: the list breaks ties by id.
      const at = new Date(now - Math.floor(i / 3) * DAY).toISOString();
      seed({ id: `usr_p${String(i).padStart(3, '0')}`, email, name, role: roles[i % 3], tier: tiers[i % 5], createdAt: at });
    });
    for (let i = 0; i < 10_050; i++) {
      const at = new Date(now - (i % 45) * DAY - i).toISOString();
      seed({ id: `usr_b${String(i).padStart(5, '0')}`, email: `bulk${i}@example.net`, name: `Bulk ${i % 7}`, tier: tiers[i % 5], createdAt: at });
    }
  })();
}

/** The admin list as the store answered it before: LIKE over the whole table, sorted. */
function referenceUsers(db: Db, q: string | undefined, role: string | undefined, tier: string | undefined, limit: number, offset: number) {
  const pattern = q ? `${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  const where = `WHERE (@q IS NULL OR u.email LIKE @q ESCAPE '\\' OR u.name LIKE @q ESCAPE '\\') AND (@role IS NULL OR u.role = @role) AND (@tier IS NULL OR u.tier = @tier)`;
  const params = { q: pattern, role: role ?? null, tier: tier ?? null };
  const ids = (db.prepare(`SELECT u.id FROM users u ${where} ORDER BY u.created_at DESC, u.id LIMIT @limit OFFSET @offset`).all({ ...params, limit, offset }) as { id: string }[]).map((r) => r.id);
  return { ids, total: (db.prepare(`SELECT count(*) AS n FROM users u ${where}`).get(params) as { n: number }).n };
}

const get = async (app: App, admin: Account, url: string) => {
  const res = await app.inject({ url, headers: admin.headers });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  return res.json();
};

/** /api/admin/stats as it was computed before the kept counts, from the tables. */
function referenceStats(fixture: AuthFixture) {
  const { db, clock } = fixture;
  const now = clock.now();
  const since = new Date(Date.parse(new Date(now - 29 * DAY).toISOString().slice(0, 10))).toISOString();
  const rows = <T>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as T[];
  const total = countRows(db, 'users');
  const signups = new Map(rows<{ day: string; n: number }>(`SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM users WHERE created_at >= ? GROUP BY day`, since).map((r) => [r.day, r.n]));
  const enabled = (db.prepare('SELECT count(*) AS n FROM totp_secrets WHERE enabled = 1').get() as { n: number }).n;
  const idle = fixture.config.auth.sessionIdleTimeoutMs;
  const idleCutoff = idle > 0 ? new Date(now - idle).toISOString() : '';
  return {
    users: {
      total,
      byTier: Object.fromEntries(rows<{ k: string; n: number }>('SELECT tier AS k, count(*) AS n FROM users GROUP BY tier').map((r) => [r.k, r.n])),
      byRole: Object.fromEntries(rows<{ k: string; n: number }>('SELECT role AS k, count(*) AS n FROM users GROUP BY role').map((r) => [r.k, r.n])),
      signupsByDay: Array.from({ length: 30 }, (_, i) => {
        const day = new Date(now - (29 - i) * DAY).toISOString().slice(0, 10);
        return { day, count: signups.get(day) ?? 0 };
      }),
    },
    liveSessions: (db.prepare('SELECT count(*) AS n FROM sessions WHERE expires_at > ? AND last_used_at > ?').get(new Date(now).toISOString(), idleCutoff) as { n: number }).n,
    twoFactor: { enabled, percentage: total === 0 ? 0 : Math.round((enabled / total) * 10_000) / 100 },
  };
}

async function checkStats(t: Test, fixture: AuthFixture, admin: Account, label: string) {
  t.same((await get(fixture.app, admin, '/api/admin/stats')).data, referenceStats(fixture), `${label}: statistics`);
}

t.test('admin user list: prefix search, role and tier answer as before; totals exact without a search, capped with one', async (t) => {
  const fixture = await buildAuth(t);
  const { app, db, clock } = fixture;
  const admin = await registerAdmin(app, 'root@example.com');
  insertUsers(db, clock.now());
  const queries = [undefined, 'a', 'al', 'ALI', ' alice ', 'per%', '%', '_', 'under_', 'back\\', 'é', 'É', 'zo', 'ω', '😀', '@', '[', 'at', 'bulk', 'bulk1', 'bulk99', 'nobody'];
  let capped = 0;
  for (const q of queries) {
    for (const [role, tier] of [[undefined, undefined], ['user', undefined], ['admin', undefined], [undefined, 'pro'], ['user', 'enterprise']] as const) {
      for (const [page, limit] of [[1, 7], [2, 7], [1, 200], [50, 200]] as const) {
        const query = [q === undefined ? '' : `q=${encodeURIComponent(q)}`, role ? `role=${role}` : '', tier ? `tier=${tier}` : '', `page=${page}`, `limit=${limit}`].filter(Boolean).join('&');
        const body = await get(app, admin, `/api/admin/users?${query}`);
        const expected = referenceUsers(db, q?.trim().toLowerCase() || undefined, role, tier, limit, (page - 1) * limit);
        t.same(body.data.map((u: { id: string }) => u.id), expected.ids, `${query}: rows`);
        const total = q === undefined ? expected.total : Math.min(expected.total, COUNT_CAP);
        t.equal(body.pagination.total, total, `${query}: total ${q === undefined ? 'exact' : 'up to the cap'}`);
        if (total < expected.total) capped++;
      }
    }
  }
  t.ok(capped > 0, `${capped} search totals were capped`);
  await checkStats(t, fixture, admin, 'after a bulk insert');
});

t.test('statistics and totals follow every write: sign-up, tier and role changes, TOTP, deletion', async (t) => {
  const fixture = await buildAuth(t);
  const { app, clock } = fixture;
  // Just before midnight, so the sign-ups fall on two days while every token is still valid.
  clock.set(Date.parse('2026-03-07T23:50:00.000Z'));
  const admin = await registerAdmin(app);
  await checkStats(t, fixture, admin, 'one admin');
  const user = await register(app);
  clock.advance(20 * 60_000);
  const other = await register(app);
  await enableTotp(fixture, user);
  await checkStats(t, fixture, admin, 'two sign-ups, TOTP on');
  await app.inject({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: admin.headers, payload: { tier: 'business' } });
  await app.inject({ method: 'PATCH', url: `/api/admin/users/${other.id}`, headers: admin.headers, payload: { role: 'admin', tier: 'pro' } });
  await checkStats(t, fixture, admin, 'tier and role changed');
  t.equal((await get(app, admin, '/api/admin/users?role=admin')).pagination.total, 2);
  t.equal((await get(app, admin, '/api/admin/users?tier=business')).pagination.total, 1);
  const audited = (await get(app, admin, `/api/admin/audit-log?actorId=${user.id}`)).pagination.total;
  t.ok(audited > 0, 'the user has audit entries of their own');
  const deleted = await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: user.headers, payload: { password: PASSWORD } });
  t.equal(deleted.statusCode, 200);
  await checkStats(t, fixture, admin, 'account deleted');
  t.equal((await get(app, admin, `/api/admin/audit-log?actorId=${user.id}`)).pagination.total, 0, "the deleted account's entries lost their actor");
  const all = await get(app, admin, '/api/admin/audit-log?limit=1');
  t.equal(all.pagination.total, countRows(fixture.db, 'audit_log'));
});

t.test('audit log: every filter combination pages as before; totals exact per action or actor, capped with a time range', async (t) => {
  const fixture = await buildAuth(t);
  const { app, db, clock } = fixture;
  const admin = await registerAdmin(app);
  const now = clock.now();
  const actions = ['login.success', 'login.failure', 'logout', 'api_key.create', 'admin.user.update'];
  db.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 12000)
    INSERT INTO audit_log (id, action, actor_id, target_id, ip, details, created_at)
    SELECT 'audit_t' || i, CASE i % 5 ${actions.map((a, i) => `WHEN ${i} THEN '${a}'`).join(' ')} END,
      CASE WHEN i % 11 = 0 THEN NULL ELSE 'usr_a' || (i % 4) END, 'usr_a' || (i % 6), NULL, '{}',
      strftime('%Y-%m-%dT%H:%M:%fZ', (@now - (i % 997) * 3600000 - (i / 997) * 1000) / 1000.0, 'unixepoch')
    FROM n`).run({ now });
  const values = { action: 'login.failure', actorId: 'usr_a1', since: new Date(now - 30 * DAY).toISOString(), until: new Date(now - 2 * DAY).toISOString() };
  const sql = { action: 'action = @action', actorId: 'actor_id = @actorId', since: 'created_at >= @since', until: 'created_at <= @until' };
  let capped = 0;
  for (const { present, params, where } of filterCombinations(values, sql)) {
    const exact = !present.includes('since') && !present.includes('until') && !(present.includes('action') && present.includes('actorId'));
    for (const [page, limit] of [[1, 50], [4, 7], [50, 200]] as const) {
      const query = [...present.map((key) => `${key}=${encodeURIComponent(values[key])}`), `page=${page}`, `limit=${limit}`].join('&');
      const body = await get(app, admin, `/api/admin/audit-log?${query}`);
      const ids = (db.prepare(`SELECT id FROM audit_log ${where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`).all(params, limit, (page - 1) * limit) as { id: string }[]).map((r) => r.id);
      const count = (db.prepare(`SELECT count(*) AS n FROM audit_log ${where}`).get(params) as { n: number }).n;
      t.same(body.data.map((e: { id: string }) => e.id), ids, `${query}: rows`);
      const total = exact ? count : Math.min(count, COUNT_CAP);
      t.equal(body.pagination.total, total, `${query}: total ${exact ? 'exact' : 'up to the cap'}`);
      if (total < count) capped++;
    }
  }
  t.ok(capped > 0, `${capped} totals were capped`);
  // An account's last ten entries, as actor or target, in the admin detail.
  seedUser(db, { id: 'usr_a1' });
  const detail = await get(app, admin, '/api/admin/users/usr_a1');
  const recent = (db.prepare(`SELECT id FROM audit_log WHERE actor_id = ? OR target_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 10`).all('usr_a1', 'usr_a1') as { id: string }[]).map((r) => r.id);
  t.same(detail.data.recentAudit.map((e: { id: string }) => e.id), recent, 'recent audit of one account');
});

t.test('sessions: the live list as before with an exact total; the hourly sweep purges thousands in slices', async (t) => {
  const fixture = await buildAuth(t);
  const { app, db, clock } = fixture;
  const admin = await registerAdmin(app);
  const now = clock.now();
  const idle = fixture.config.auth.sessionIdleTimeoutMs;
  const insert = db.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @count)
    INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, ip, user_agent)
    SELECT @prefix || i, @userId, strftime('%Y-%m-%dT%H:%M:%fZ', (@created - (i % 50) * 1000) / 1000.0, 'unixepoch'),
      strftime('%Y-%m-%dT%H:%M:%fZ', @expires / 1000.0, 'unixepoch'), strftime('%Y-%m-%dT%H:%M:%fZ', @used / 1000.0, 'unixepoch'), NULL, NULL FROM n`);
  const userId = admin.id;
  insert.run({ count: 300, prefix: 'ses_live', userId, created: now - 1000, expires: now + DAY, used: now - 1000 });
  insert.run({ count: 1200, prefix: 'ses_expired', userId, created: now - 500, expires: now - 1, used: now - 1000 });
  insert.run({ count: 100, prefix: 'ses_idle', userId, created: now - 700, expires: now + DAY, used: now - idle - 1 });
  const cutoff = new Date(now - idle).toISOString();
  for (const [page, limit] of [[1, 50], [3, 7], [7, 50]] as const) {
    const body = await get(app, admin, `/api/admin/sessions?page=${page}&limit=${limit}`);
    const ids = (db.prepare(`SELECT id FROM sessions WHERE expires_at > ? AND last_used_at > ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?`).all(new Date(now).toISOString(), cutoff, limit, (page - 1) * limit) as { id: string }[]).map((r) => r.id);
    t.same(body.data.map((s: { id: string }) => s.id), ids, `page ${page}×${limit}`);
    t.equal(body.pagination.total, 301, 'live sessions, the admin’s own included');
  }
  await checkStats(t, fixture, admin, 'with dead sessions');
  t.equal((await fixture.jobs.maintenance.run()).sessionsPurged, 1300, 'expired and idled-out sessions, over several slices');
  t.equal(countRows(db, 'sessions'), 301);
  t.equal((await fixture.jobs.maintenance.run()).sessionsPurged, 0);
});

t.test('every hourly purge deletes in bounded slices and the timed sweep gives the event loop back between them', async (t) => {
  const fixture = await buildAuth(t);
  const { app, db, clock } = fixture;
  const admin = await registerAdmin(app);
  const now = clock.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const counts = () => ({ tokens: countRows(db, 'password_reset_tokens'), mail: countRows(db, 'outbox'), addresses: countRows(db, 'known_addresses') });
  const before = counts();
  const fill = (sql: string, count: number) =>
    db.prepare(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${count}) ${sql}`).run();
  fill(`INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) SELECT 'old' || i, '${admin.id}', '${iso(now - 7200_000)}', '${iso(now - 3600_000)}' FROM n`, 3000);
  fill(`INSERT INTO outbox (id, user_id, recipient, subject, body, status, attempts, created_at, expires_at)
        SELECT 'mail_old' || i, NULL, 'x@example.com', 's', 'b', 'stored', 0, '${iso(now - 7200_000)}', '${iso(now - 1)}' FROM n`, 3000);
  fill(`INSERT INTO auth_failures (key, count, window_ends) SELECT 'ip:old' || i, 3, ${now - 1} FROM n`, 3000);
  fill(`INSERT INTO known_addresses (user_id, ip, last_success_at) SELECT '${admin.id}', '10.9.' || (i / 256) || '.' || (i % 256), '${iso(now - 31 * DAY)}' FROM n`, 3000);
  fill(`INSERT INTO auth_failures (key, count, window_ends) SELECT 'ip:live' || i, 3, ${now + 60_000} FROM n`, 5);

  let yields = 0;
  const ticker = setInterval(() => (yields += 1), 0);
  const report = await fixture.jobs.maintenance.runInSlices();
  clearInterval(ticker);
  t.match(report, { resetTokensPurged: 3000, mailPurged: 3000, failureWindowsPurged: 3000, knownAddressesPurged: 3000 }, 'every stale row went');
  t.ok(yields >= 4, `the event loop ran between slices (${yields} timer turns)`);
  t.equal((db.prepare(`SELECT count(*) AS n FROM auth_failures WHERE key LIKE 'ip:live%'`).get() as { n: number }).n, 5, 'open failure windows stay');
  t.same(counts(), before, 'live rows stay');
  t.match(await fixture.jobs.maintenance.run(), { resetTokensPurged: 0, mailPurged: 0, failureWindowsPurged: 0, knownAddressesPurged: 0 }, 'nothing left the second time');
});

t.test('migration 11 counts the accounts, TOTP and audit entries already stored', async (t) => {
  const config = testConfig(t);
  const db = openDatabase(config.databasePath);
  t.teardown(() => closeDatabase(db));
  migrate(db, MIGRATIONS.filter((migration) => migration.version < 11));
  insertUsers(db, Date.parse('2026-03-07T12:00:00.000Z'));
  db.exec(`
    INSERT INTO totp_secrets (user_id, secret_encrypted, enabled, created_at) SELECT id, 'x', rowid % 3 = 0, created_at FROM users WHERE rowid % 2 = 0;
    INSERT INTO audit_log (id, action, actor_id, target_id, ip, details, created_at)
      SELECT 'audit_m' || rowid, CASE rowid % 3 WHEN 0 THEN 'logout' ELSE 'register' END, CASE WHEN rowid % 4 = 0 THEN NULL ELSE id END, id, NULL, '{}', created_at FROM users;`);
  migrate(db, MIGRATIONS);
  const fixture = await buildAuth(t, { db, config });
  const admin = await registerAdmin(fixture.app);
  db.prepare(`UPDATE users SET role = 'admin' WHERE id = ?`).run(admin.id);
  await checkStats(t, fixture, admin, 'migrated');
  for (const query of ['', 'action=logout', 'actorId=usr_b00001', 'action=register&actorId=usr_p003']) {
    const where = query
      .split('&')
      .filter(Boolean)
      .map((pair) => (pair.startsWith('action=') ? `action = '${pair.slice(7)}'` : `actor_id = '${pair.slice(8)}'`))
      .join(' AND ');
    const count = (db.prepare(`SELECT count(*) AS n FROM audit_log ${where ? `WHERE ${where}` : ''}`).get() as { n: number }).n;
    t.equal((await get(fixture.app, admin, `/api/admin/audit-log?${query}`)).pagination.total, count, `audit total ${query || 'of all'}`);
  }
  t.equal((await get(fixture.app, admin, '/api/admin/users?role=user&tier=pro')).pagination.total, (db.prepare(`SELECT count(*) AS n FROM users WHERE role = 'user' AND tier = 'pro'`).get() as { n: number }).n);
});
