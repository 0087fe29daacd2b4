import t, { type Test } from 'tap';
import { MIGRATIONS } from '../../src/migrations/index.js';
import type { App } from '../../src/shared/base-app.js';
import { COUNT_CAP } from '../../src/shared/capped-total.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase } from '../../src/shared/db/open.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { defineStatement, type Params, type Statement, type Storage } from '../../src/shared/db/storage.js';
import { borrowed, countIn, execute, onBothEngines, selectRows, storageOn, type Engine } from '../engines.js';
import { filterCombinations, testConfig, testDb } from '../helper.js';
import type { SqlParams } from '../port-sql.js';
import { seedUserIn } from '../seed.js';
import { buildAuth, buildAuthOn, enableTotp, PASSWORD, register, registerAdmin, type Account, type AuthFixture } from './fixtures.js';

const DAY = 86_400_000;

type Row = Readonly<Record<string, unknown>>;

// Thousands of rows per test: one batched statement per few hundred rows on PostgreSQL, not a round trip each.
const INSERT_USER = defineStatement<Row>(`INSERT INTO users (id, email, name, password_hash, role, tier, suspended, created_at, updated_at)
     VALUES (@id, @email, @name, 'not-a-password-hash', @role, @tier, 0, @createdAt, @createdAt)`);
const INSERT_AUDIT = defineStatement<Row>(`INSERT INTO audit_log (id, action, actor_id, target_id, ip, details, created_at)
     VALUES (@id, @action, @actorId, @targetId, NULL, '{}', @createdAt)`);
const INSERT_SESSION = defineStatement<Row>(`INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, ip, user_agent)
     VALUES (@id, @userId, @createdAt, @expiresAt, @lastUsedAt, NULL, NULL)`);

/**
 * Rows in transactions of a few hundred: on PostgreSQL each insert's counter trigger updates the
 * same few count rows, and thousands of updates of one row in one transaction leave a chain of
 * versions every later update walks (12,000 audit entries: 11 s in one transaction, 3 s so).
 */
async function insertAll(storage: Storage, statement: Statement<Row, unknown>, rows: Row[]): Promise<void> {
  for (let from = 0; from < rows.length; from += 500) await storage.transaction({ durable: false }, (tx) => tx.runBatch(statement, rows.slice(from, from + 500)));
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Accounts written straight into the table (the counters follow by trigger): awkward e-mails and names, ties in time. */
async function insertUsers(storage: Storage, now: number): Promise<void> {
  const people: Array<[string, string]> = [
    ['alice@example.com', 'Alice Smith'], ['alicia@example.org', 'alice'], ['ALI.UPPER@EXAMPLE.COM', 'ALICE'], ['bob@example.com', 'Bob_Builder'],
    ['per%cent@example.com', '100% Real'], ['under_score@example.com', 'Under Score'], ['back\\slash@example.com', 'Back Slash'],
    ['émile@example.com', 'Émile Zola'], ['Émilie@example.com', 'émilie'], ['zoe@example.com', 'Zoë'], ['omega@example.com', 'Ωmega'],
    ['smile@example.com', '😀 Smile'], ['handle@example.com', '@handle'], ['bracket@example.com', '[bracket'], ['at@example.com', 'at'],
  ];
  const roles = ['user', 'user', 'admin'] as const;
  const tiers = ['community', 'solo', 'pro', 'community', 'enterprise'] as const;
  // Three accounts share each creation time: the list breaks ties by id.
  const rows: Row[] = people.map(([email, name], i) => ({
    id: `usr_p${String(i).padStart(3, '0')}`, email, name, role: roles[i % 3], tier: tiers[i % 5], createdAt: iso(now - Math.floor(i / 3) * DAY),
  }));
  for (let i = 0; i < 10_050; i++) {
    rows.push({ id: `usr_b${String(i).padStart(5, '0')}`, email: `bulk${i}@example.net`, name: `Bulk ${i % 7}`, role: 'user', tier: tiers[i % 5], createdAt: iso(now - (i % 45) * DAY - i) });
  }
  await insertAll(storage, INSERT_USER, rows);
}

/** Named values when there are any: a statement without parameters takes none (PostgreSQL's adapter checks). */
const paramsOf = (named: Readonly<Record<string, unknown>>): SqlParams => (Object.keys(named).length > 0 ? named : []);

/** The `n` of a `SELECT count(*) AS n …`, through the port. */
async function countWhere(storage: Storage, sql: string, params: SqlParams = []): Promise<number> {
  const [row] = await selectRows<{ n: number }>(storage, sql, params);
  return Number(row!.n);
}

/**
 * The admin list as the store answered it before: LIKE over the whole table, sorted; every
 * matching id in order (a page is a slice of it) and their count.
 */
async function referenceUsers(storage: Storage, q: string | undefined, role: string | undefined, tier: string | undefined) {
  // SQLite's LIKE folds ASCII letters only; PostgreSQL's folds none, its ascii_lower() the same ones as SQLite.
  const folded = (column: string) => (storage.engine === 'postgres' ? `ascii_lower(${column})` : column);
  const params: Record<string, unknown> = {};
  const conditions: string[] = [];
  if (q) {
    params.q = `${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    conditions.push(`(${folded('u.email')} LIKE @q ESCAPE '\\' OR ${folded('u.name')} LIKE @q ESCAPE '\\')`);
  }
  if (role) (params.role = role), conditions.push('u.role = @role');
  if (tier) (params.tier = tier), conditions.push('u.tier = @tier');
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  const ids = (await selectRows<{ id: string }>(storage, `SELECT u.id FROM users u ${where} ORDER BY u.created_at DESC, u.id`, paramsOf(params))).map((r) => r.id);
  return { ids, total: ids.length };
}

const get = async (app: App, admin: Account, url: string) => {
  const res = await app.inject({ url, headers: admin.headers });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  return res.json();
};

/** /api/admin/stats as it was computed before the kept counts, from the tables. */
async function referenceStats(fixture: AuthFixture) {
  const { storage, clock } = fixture;
  const now = clock.now();
  const since = new Date(Date.parse(new Date(now - 29 * DAY).toISOString().slice(0, 10))).toISOString();
  const total = await countIn(storage, 'users');
  const signups = new Map(
    (await selectRows<{ day: string; n: number }>(storage, `SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM users WHERE created_at >= ? GROUP BY day`, [since])).map((r) => [r.day, Number(r.n)]),
  );
  const enabled = await countWhere(storage, 'SELECT count(*) AS n FROM totp_secrets WHERE enabled = 1');
  const idle = fixture.config.auth.sessionIdleTimeoutMs;
  const idleCutoff = idle > 0 ? new Date(now - idle).toISOString() : '';
  const by = async (column: string) =>
    Object.fromEntries((await selectRows<{ k: string; n: number }>(storage, `SELECT ${column} AS k, count(*) AS n FROM users GROUP BY ${column}`)).map((r) => [r.k, Number(r.n)]));
  return {
    users: {
      total,
      byTier: await by('tier'),
      byRole: await by('role'),
      signupsByDay: Array.from({ length: 30 }, (_, i) => {
        const day = new Date(now - (29 - i) * DAY).toISOString().slice(0, 10);
        return { day, count: signups.get(day) ?? 0 };
      }),
    },
    liveSessions: await countWhere(storage, 'SELECT count(*) AS n FROM sessions WHERE expires_at > ? AND last_used_at > ?', [new Date(now).toISOString(), idleCutoff]),
    twoFactor: { enabled, percentage: total === 0 ? 0 : Math.round((enabled / total) * 10_000) / 100 },
  };
}

async function checkStats(t: Test, fixture: AuthFixture, admin: Account, label: string) {
  t.same((await get(fixture.app, admin, '/api/admin/stats')).data, await referenceStats(fixture), `${label}: statistics`);
}

onBothEngines('admin user list: prefix search, role and tier answer as before; totals exact without a search, capped with one', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, storage, clock } = fixture;
  const admin = await registerAdmin(app, 'root@example.com');
  await insertUsers(storage, clock.now());
  const queries = [undefined, 'a', 'al', 'ALI', ' alice ', 'per%', '%', '_', 'under_', 'back\\', 'é', 'É', 'zo', 'ω', '😀', '@', '[', 'at', 'bulk', 'bulk1', 'bulk99', 'nobody'];
  let capped = 0;
  for (const q of queries) {
    for (const [role, tier] of [[undefined, undefined], ['user', undefined], ['admin', undefined], [undefined, 'pro'], ['user', 'enterprise']] as const) {
      const expected = await referenceUsers(storage, q?.trim().toLowerCase() || undefined, role, tier);
      for (const [page, limit] of [[1, 7], [2, 7], [1, 200], [50, 200]] as const) {
        const query = [q === undefined ? '' : `q=${encodeURIComponent(q)}`, role ? `role=${role}` : '', tier ? `tier=${tier}` : '', `page=${page}`, `limit=${limit}`].filter(Boolean).join('&');
        const body = await get(app, admin, `/api/admin/users?${query}`);
        t.same(body.data.map((u: { id: string }) => u.id), expected.ids.slice((page - 1) * limit, page * limit), `${query}: rows`);
        const total = q === undefined ? expected.total : Math.min(expected.total, COUNT_CAP);
        t.equal(body.pagination.total, total, `${query}: total ${q === undefined ? 'exact' : 'up to the cap'}`);
        if (total < expected.total) capped++;
      }
    }
  }
  t.ok(capped > 0, `${capped} search totals were capped`);
  await checkStats(t, fixture, admin, 'after a bulk insert');
});

onBothEngines('statistics and totals follow every write: sign-up, tier and role changes, TOTP, deletion', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
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
  t.equal(all.pagination.total, await countIn(fixture.storage, 'audit_log'));
});

onBothEngines('audit log: every filter combination pages as before; totals exact per action or actor, capped with a time range', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, storage, clock } = fixture;
  const admin = await registerAdmin(app);
  const now = clock.now();
  const actions = ['login.success', 'login.failure', 'logout', 'api_key.create', 'admin.user.update'];
  await insertAll(
    storage,
    INSERT_AUDIT,
    Array.from({ length: 12_000 }, (_, i) => ({
      id: `audit_t${i}`, action: actions[i % 5], actorId: i % 11 === 0 ? null : `usr_a${i % 4}`, targetId: `usr_a${i % 6}`,
      createdAt: iso(now - (i % 997) * 3_600_000 - Math.floor(i / 997) * 1000),
    })),
  );
  const values = { action: 'login.failure', actorId: 'usr_a1', since: new Date(now - 30 * DAY).toISOString(), until: new Date(now - 2 * DAY).toISOString() };
  const sql = { action: 'action = @action', actorId: 'actor_id = @actorId', since: 'created_at >= @since', until: 'created_at <= @until' };
  let capped = 0;
  for (const { present, params, where } of filterCombinations(values, sql)) {
    const exact = !present.includes('since') && !present.includes('until') && !(present.includes('action') && present.includes('actorId'));
    // Every matching entry in order: a page is a slice of it.
    const ordered = (await selectRows<{ id: string }>(storage, `SELECT id FROM audit_log ${where} ORDER BY created_at DESC, rowid DESC`, paramsOf(params))).map((r) => r.id);
    const count = ordered.length;
    for (const [page, limit] of [[1, 50], [4, 7], [50, 200]] as const) {
      const query = [...present.map((key) => `${key}=${encodeURIComponent(values[key])}`), `page=${page}`, `limit=${limit}`].join('&');
      const body = await get(app, admin, `/api/admin/audit-log?${query}`);
      t.same(body.data.map((e: { id: string }) => e.id), ordered.slice((page - 1) * limit, page * limit), `${query}: rows`);
      const total = exact ? count : Math.min(count, COUNT_CAP);
      t.equal(body.pagination.total, total, `${query}: total ${exact ? 'exact' : 'up to the cap'}`);
      if (total < count) capped++;
    }
  }
  t.ok(capped > 0, `${capped} totals were capped`);
  // An account's last ten entries, as actor or target, in the admin detail.
  await seedUserIn(storage, { id: 'usr_a1' });
  const detail = await get(app, admin, '/api/admin/users/usr_a1');
  const recent = (await selectRows<{ id: string }>(storage, `SELECT id FROM audit_log WHERE actor_id = ? OR target_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 10`, ['usr_a1', 'usr_a1'])).map((r) => r.id);
  t.same(detail.data.recentAudit.map((e: { id: string }) => e.id), recent, 'recent audit of one account');
});

onBothEngines('sessions: the live list as before with an exact total; the hourly sweep purges thousands in slices', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, storage, clock } = fixture;
  const admin = await registerAdmin(app);
  const now = clock.now();
  const idle = fixture.config.auth.sessionIdleTimeoutMs;
  const sessions = (count: number, prefix: string, times: { created: number; expires: number; used: number }) =>
    Array.from({ length: count }, (_, i) => ({
      id: `${prefix}${i}`, userId: admin.id, createdAt: iso(times.created - (i % 50) * 1000), expiresAt: iso(times.expires), lastUsedAt: iso(times.used),
    }));
  await insertAll(storage, INSERT_SESSION, [
    ...sessions(300, 'ses_live', { created: now - 1000, expires: now + DAY, used: now - 1000 }),
    ...sessions(1200, 'ses_expired', { created: now - 500, expires: now - 1, used: now - 1000 }),
    ...sessions(100, 'ses_idle', { created: now - 700, expires: now + DAY, used: now - idle - 1 }),
  ]);
  const cutoff = new Date(now - idle).toISOString();
  for (const [page, limit] of [[1, 50], [3, 7], [7, 50]] as const) {
    const body = await get(app, admin, `/api/admin/sessions?page=${page}&limit=${limit}`);
    const ids = (
      await selectRows<{ id: string }>(storage, `SELECT id FROM sessions WHERE expires_at > ? AND last_used_at > ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, [new Date(now).toISOString(), cutoff, limit, (page - 1) * limit])
    ).map((r) => r.id);
    t.same(body.data.map((s: { id: string }) => s.id), ids, `page ${page}×${limit}`);
    t.equal(body.pagination.total, 301, 'live sessions, the admin’s own included');
  }
  await checkStats(t, fixture, admin, 'with dead sessions');
  t.equal((await fixture.jobs.maintenance.run()).sessionsPurged, 1300, 'expired and idled-out sessions, over several slices');
  t.equal(await countIn(storage, 'sessions'), 301);
  t.equal((await fixture.jobs.maintenance.run()).sessionsPurged, 0);
});

/** One DELETE the app ran: its table, the slice size it was given, what it removed, and the timer turns around it. */
interface Slice {
  table: string;
  limit: number;
  changes: number;
  turnsBefore: number;
  turnsAfter: number;
}

/**
 * An Auth Server whose storage notes every sliced DELETE (`… LIMIT ?` as the last parameter),
 * on either engine: what shows each slice bounded and the event loop turning between them.
 */
async function buildAuthWatchingSlices(t: Test, engine: Engine, turns: () => number): Promise<{ fixture: AuthFixture; slices: Slice[] }> {
  const slices: Slice[] = [];
  const config = testConfig(t, { RATE_LIMIT_SCALE: '100' });
  // SQLite: the port over the test's temp file, which the file's own teardown closes.
  const db = engine === 'sqlite' ? testDb(t, config) : undefined;
  const base = db ? borrowed(sqliteStorageOf(db)) : (await storageOn(engine))!;
  const run = base.run.bind(base) as (statement: Statement<Params, unknown>, params?: Params) => ReturnType<Storage['run']>;
  const watching = Object.create(base, {
    run: {
      value: async (statement: Statement<Params, unknown>, params?: Params) => {
        const table = /^DELETE FROM (\w+) WHERE \w+ IN\s*\(SELECT/.exec(statement.sql)?.[1];
        const turnsBefore = turns();
        const result = await run(statement, params);
        if (table && Array.isArray(params)) slices.push({ table, limit: Number(params.at(-1)), changes: result.changes, turnsBefore, turnsAfter: turns() });
        return result;
      },
    },
  }) as Storage;
  const fixture = await buildAuth(t, { config, storage: watching, ...(db ? { db } : {}) });
  return { fixture, slices };
}

onBothEngines('every hourly purge deletes in bounded slices and the timed sweep gives the event loop back between them', async (t, engine) => {
  let yields = 0;
  const { fixture, slices } = await buildAuthWatchingSlices(t, engine, () => yields);
  const { app, storage, clock } = fixture;
  const admin = await registerAdmin(app);
  const now = clock.now();
  const counts = async () => ({ tokens: await countIn(storage, 'password_reset_tokens'), mail: await countIn(storage, 'outbox'), addresses: await countIn(storage, 'known_addresses') });
  const before = await counts();
  // A recursive count runs on both engines; every value is a constant or built from the counter.
  const fill = (sql: string, count: number) => execute(storage, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${count}) ${sql}`);
  await fill(`INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) SELECT 'old' || i, '${admin.id}', '${iso(now - 7200_000)}', '${iso(now - 3600_000)}' FROM n`, 3000);
  await fill(`INSERT INTO outbox (id, user_id, recipient, subject, body, status, attempts, created_at, expires_at)
        SELECT 'mail_old' || i, NULL, 'x@example.com', 's', 'b', 'stored', 0, '${iso(now - 7200_000)}', '${iso(now - 1)}' FROM n`, 3000);
  await fill(`INSERT INTO auth_failures (key, count, window_ends) SELECT 'ip:old' || i, 3, ${now - 1} FROM n`, 3000);
  await fill(`INSERT INTO known_addresses (user_id, ip, last_success_at) SELECT '${admin.id}', '10.9.' || (i / 256) || '.' || (i % 256), '${iso(now - 31 * DAY)}' FROM n`, 3000);
  await fill(`INSERT INTO auth_failures (key, count, window_ends) SELECT 'ip:live' || i, 3, ${now + 60_000} FROM n`, 5);

  slices.length = 0;
  const ticker = setInterval(() => (yields += 1), 0);
  const report = await fixture.jobs.maintenance.runInSlices();
  clearInterval(ticker);
  t.match(report, { resetTokensPurged: 3000, mailPurged: 3000, failureWindowsPurged: 3000, knownAddressesPurged: 3000 }, 'every stale row went');
  t.ok(yields >= 4, `the event loop ran between slices (${yields} timer turns)`);
  const tables = ['password_reset_tokens', 'outbox', 'auth_failures', 'known_addresses'];
  for (const table of tables) {
    const own = slices.filter((slice) => slice.table === table);
    t.equal(own.reduce((sum, slice) => sum + slice.changes, 0), 3000, `${table}: its slices add up`);
    t.ok(own.length >= 2 && own.every((slice) => slice.changes <= slice.limit && slice.changes < 3000), `${table}: ${own.length} slices, none beyond its size (${own.map((slice) => `${slice.changes}/${slice.limit}`).join(', ')})`);
  }
  // (The session purge's two statements, expired then idled-out, share one slice.)
  const purged = slices.filter((slice) => tables.includes(slice.table));
  const unturned = purged.slice(1).filter((slice, i) => slice.turnsBefore <= purged[i]!.turnsAfter);
  t.same(unturned, [], 'the timers ran between every two slices');
  t.equal(await countWhere(storage, `SELECT count(*) AS n FROM auth_failures WHERE key LIKE 'ip:live%'`), 5, 'open failure windows stay');
  t.same(await counts(), before, 'live rows stay');
  t.match(await fixture.jobs.maintenance.run(), { resetTokensPurged: 0, mailPurged: 0, failureWindowsPurged: 0, knownAddressesPurged: 0 }, 'nothing left the second time');
});

// SQLite only: it migrates an old SQLite file from before the kept counts; PostgreSQL starts from a baseline that has them.
t.test('migration 11 counts the accounts, TOTP and audit entries already stored', async (t) => {
  const config = testConfig(t);
  const db = openDatabase(config.databasePath);
  t.teardown(() => closeDatabase(db));
  migrate(db, MIGRATIONS.filter((migration) => migration.version < 11));
  await insertUsers(sqliteStorageOf(db), Date.parse('2026-03-07T12:00:00.000Z'));
  db.exec(`
    INSERT INTO totp_secrets (user_id, secret_encrypted, enabled, created_at) SELECT id, 'x', rowid % 3 = 0, created_at FROM users WHERE rowid % 2 = 0;
    INSERT INTO audit_log (id, action, actor_id, target_id, ip, details, created_at)
      SELECT 'audit_m' || rowid, CASE rowid % 3 WHEN 0 THEN 'logout' ELSE 'register' END, CASE WHEN rowid % 4 = 0 THEN NULL ELSE id END, id, NULL, '{}', created_at FROM users;`);
  migrate(db, MIGRATIONS);
  const fixture = await buildAuth(t, { db, config });
  const admin = await registerAdmin(fixture.app);
  await execute(fixture.storage, `UPDATE users SET role = 'admin' WHERE id = ?`, [admin.id]);
  await checkStats(t, fixture, admin, 'migrated');
  for (const query of ['', 'action=logout', 'actorId=usr_b00001', 'action=register&actorId=usr_p003']) {
    const where = query
      .split('&')
      .filter(Boolean)
      .map((pair) => (pair.startsWith('action=') ? `action = '${pair.slice(7)}'` : `actor_id = '${pair.slice(8)}'`))
      .join(' AND ');
    const count = await countWhere(fixture.storage, `SELECT count(*) AS n FROM audit_log ${where ? `WHERE ${where}` : ''}`);
    t.equal((await get(fixture.app, admin, `/api/admin/audit-log?${query}`)).pagination.total, count, `audit total ${query || 'of all'}`);
  }
  t.equal((await get(fixture.app, admin, '/api/admin/users?role=user&tier=pro')).pagination.total, await countWhere(fixture.storage, `SELECT count(*) AS n FROM users WHERE role = 'user' AND tier = 'pro'`));
});
