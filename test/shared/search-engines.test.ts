import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { AGENT_SORTS, SORT_ORDERS } from '../../src/manager/schemas.js';
import { agentListQuery, createAgentStore, type AgentFilter, type AgentOrder } from '../../src/manager/stores/agents.js';
import { prefixSearch } from '../../src/shared/db/prefix-search.js';
import { USER_MATCHES_PAGE, USER_SEARCH_COUNT, userListStatement, userSearchParams, type Role, type UserListIndex } from '../../src/auth/stores/users.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { createSqliteStorage, sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import type { Statement, Storage } from '../../src/shared/db/storage.js';
import type { Tier } from '../../src/shared/tiers.js';
import type { Db } from '../../src/shared/db/open.js';
import { testConfig, testDb, type Teardown } from '../helper.js';
import { mirrorToPostgres, startPostgres } from '../postgres.js';
import { subsets } from '../query-plans.js';
import { seedUser } from '../seed.js';

/**
 * The fleet search and the admin account search, each written once per engine: on the same
 * rows, with the same parameters, PostgreSQL must answer exactly what SQLite answers, in the
 * same order. What makes them differ is case: SQLite's NOCASE and LIKE fold ASCII letters
 * only (not 'É'/'é'), PostgreSQL's LIKE folds nothing and its lower() folds every letter; and
 * NOCASE sorts `[ \ ] ^ _ \`` between the letters as lower case, not between 'Z' and 'a'.
 */

const MAX = '\u{10FFFF}'; // no successor: the range has no upper bound
const cluster = await startPostgres(t);

t.test('a prefix range: ASCII letters lowered, up to the last character\'s successor, none after U+10FFFF', async (t) => {
  t.strictSame(prefixSearch('Web'), { lo: 'web', hi: 'wec', like: 'Web%' });
  t.strictSame(prefixSearch('ÉZ'), { lo: 'Éz', hi: 'É{', like: 'ÉZ%' }, 'only ASCII letters are lowered, as NOCASE folds');
  t.strictSame(prefixSearch('a_b%c\\'), { lo: 'a_b%c\\', hi: 'a_b%c]', like: 'a\\_b\\%c\\\\%' }, 'LIKE takes wildcards and the escape literally');
  t.strictSame(prefixSearch('x\u{D7FF}'), { lo: 'x\u{D7FF}', hi: 'x\u{E000}', like: 'x\u{D7FF}%' }, 'the successor skips the surrogates');
  t.strictSame(prefixSearch('😀'), { lo: '😀', hi: '😁', like: '😀%' }, 'a character beyond the BMP counts as one');
  t.strictSame(prefixSearch(`X${MAX}`), { lo: `x${MAX}`, hi: null, like: `X${MAX}%` }, 'no successor: no upper bound');
  t.strictSame(prefixSearch('Alice'), { lo: 'alice', hi: 'alicf', like: 'Alice%' });
  t.strictSame(prefixSearch('É'), { lo: 'É', hi: 'Ê', like: 'É%' });
});


async function bothEngines(t: Teardown, db: Db) {
  const sqlite = createSqliteStorage(db);
  const postgres = await openPostgresStorage({ connectionString: await mirrorToPostgres(t, cluster, db), poolSize: 1, statementTimeoutMs: 10_000, ssl: false });
  t.teardown(() => postgres.close());
  return { sqlite, postgres };
}

/** Runs one statement on both engines; what differs, labelled, into `differences`. */
function comparer(engines: { sqlite: Storage; postgres: Storage }, differences: unknown[]) {
  let runs = 0;
  return {
    get runs() {
      return runs;
    },
    async all<Row>(label: string, statement: Statement<Record<string, unknown>, Row>, params: Record<string, unknown>): Promise<Row[]> {
      runs++;
      const onSqlite = await engines.sqlite.all(statement, params);
      const onPostgres = await engines.postgres.all(statement, params);
      if (!isDeepStrictEqual(onPostgres, onSqlite)) differences.push({ label, sqlite: onSqlite, postgres: onPostgres });
      return onSqlite;
    },
  };
}

const AGENT_HOSTS: ReadonlyArray<readonly [org: string, hostname: string, tags: string[]]> = [
  ['acme', 'web-01', ['prod', 'web']],
  ['acme', 'WEB-02', ['prod']],
  ['acme', 'Web_03', ['web', 'eu']],
  ['acme', 'webX03', ['prod', 'web', 'eu']],
  ['acme', 'web[04]', ['prod', 'web']],
  ['acme', 'web^05', []],
  ['acme', 'web`06', ['eu']],
  ['acme', 'webZ', ['prod', 'eu']],
  ['acme', 'weba', ['prod', 'web', 'eu']],
  ['acme', 'WebA', ['web']],
  ['acme', 'Éclair', ['prod']],
  ['acme', 'éclair', ['prod', 'web']],
  ['acme', 'Ézra', []],
  ['acme', 'ézard', ['eu']],
  ['acme', 'e-1', ['prod']],
  ['acme', 'db-01', ['prod', 'db']],
  ['acme', 'DB-02', ['db']],
  ['acme', 'w', []],
  ['acme', 'W', ['web']],
  ['acme', 'web%7', ['prod']],
  ['acme', 'web\\8', ['prod', 'web']],
  ['acme', `x${MAX}`, ['prod']],
  ['acme', `x${MAX}a`, ['web']],
  ['acme', `X${MAX}B`, ['prod', 'web']],
  ['acme', 'x\u{D7FF}', []],
  ['acme', 'x\u{E000}', ['eu']],
  ['acme', 'zulu', ['prod']],
  ['acme', '_under', ['web']],
  ['acme', '[bracket', ['prod']],
  ['acme', '^caret', []],
  ['acme', '`tick', ['eu']],
  ['acme', 'Z-last', ['prod']],
  ['globex', 'web-01', ['prod', 'web']],
  ['globex', 'Web-09', ['prod']],
  ['globex', 'ÉCLAIR', ['prod', 'eu']],
  ['globex', 'E-2', ['web']],
  ['globex', 'db-01', ['db']],
  ['globex', 'webz', ['prod', 'web', 'eu']],
];

const SEARCHES = [
  'web', 'WEB', 'Web_', 'web_', 'webX', 'web[', 'WEB[', 'web^', 'web`', 'webz', 'WEBZ', 'weba', 'É', 'é', 'Éc', 'éC', 'e', 'E', 'w', 'W',
  'web%', 'web\\', `x${MAX}`, `X${MAX}`, 'x\u{D7FF}', '_', '[', '^', '`', 'z', 'Z', 'db-0', 'DB-', 'no such host',
];

t.test('fleet list and search: the same agents in the same order and the same totals on SQLite and PostgreSQL', async (t) => {
  const db = testDb(t, testConfig(t));
  const store = createAgentStore(sqliteStorageOf(db), db);
  t.teardown(() => store.close());
  const base = Date.parse('2026-03-07T12:00:00.000Z');
  await sqliteStorageOf(db).transaction({ durable: false }, async (tx) => {
    for (const [i, [orgId, hostname, tags]] of AGENT_HOSTS.entries()) {
      // Ids out of insertion (rowid) order, heartbeat and registration times with ties: each order's tie-break shows.
      await store.insert(tx, {
        id: `agt_${String((i * 7) % AGENT_HOSTS.length).padStart(2, '0')}`,
        orgId,
        hostname,
        os: 'linux',
        version: '1.0.0',
        ip: '10.0.0.1',
        tags,
        tokenHash: `token-${i}`,
        nowMs: base + (i % 4) * 60_000,
        nowIso: new Date(base + (i % 5) * 3_600_000).toISOString(),
      });
    }
  });
  const engines = await bothEngines(t, db);
  const differences: unknown[] = [];
  const compare = comparer(engines, differences);

  const run = async (filter: AgentFilter, order: AgentOrder) => {
    const { params, statements } = agentListQuery(filter, order);
    const label = `${JSON.stringify(filter)} ${order.sort} ${order.order}`;
    const total = statements.count ? ((await compare.all(`${label} count`, statements.count, params))[0]?.n ?? 0) : null;
    const all = await compare.all(`${label} page`, statements.page, { ...params, limit: 100, offset: 0 });
    await compare.all(`${label} page 2`, statements.page, { ...params, limit: 2, offset: 2 });
    return { total, hostnames: all.map((row) => row.hostname), statements };
  };
  const filter = (overrides: Partial<AgentFilter>): AgentFilter => ({ orgId: null, heartbeatFrom: null, heartbeatTo: null, tags: [], q: null, ...overrides });
  const orders = AGENT_SORTS.flatMap((sort) => SORT_ORDERS.map((order) => ({ sort, order })));

  for (const q of SEARCHES) {
    for (const orgId of [null, 'acme', 'globex']) {
      for (const order of orders) await run(filter({ q, orgId }), order);
    }
  }
  for (const keys of subsets(['orgId', 'from', 'to', 'tags', 'q'] as const)) {
    for (const tags of keys.includes('tags') ? [['prod'], ['prod', 'web'], ['eu', 'web', 'prod'], ['web', 'missing']] : [[]]) {
      for (const order of orders) {
        await run(
          filter({
            orgId: keys.includes('orgId') ? 'acme' : null,
            heartbeatFrom: keys.includes('from') ? base + 60_000 : null,
            heartbeatTo: keys.includes('to') ? base + 180_000 : null,
            tags,
            q: keys.includes('q') ? 'WEB' : null,
          }),
          order,
        );
      }
    }
  }
  t.strictSame(differences, [], `${compare.runs} statements answered the same on both engines`);

  // What the comparison rests on: the searches find what SQLite's NOCASE and LIKE find.
  const byHostname = { sort: 'hostname', order: 'asc' } as const;
  const web = await run(filter({ q: 'WEB', orgId: 'acme' }), byHostname);
  t.strictSame(web.hostnames, ['web%7', 'web-01', 'WEB-02', 'web[04]', 'web\\8', 'web^05', 'Web_03', 'web`06', 'weba', 'WebA', 'webX03', 'webZ'], 'ASCII case ignored; in NOCASE order [ \\ ^ _ ` sort before the letters');
  t.equal(web.total, 12);
  t.strictSame((await run(filter({ q: 'é' }), byHostname)).hostnames, ['éclair', 'ézard'], "'é' does not find 'É'");
  t.strictSame((await run(filter({ q: `X${MAX}` }), byHostname)).hostnames, [`x${MAX}`, `x${MAX}a`, `X${MAX}B`], 'a search ending in U+10FFFF: no upper bound');
  t.strictSame((await run(filter({ tags: ['web', 'prod'], orgId: 'globex' }), byHostname)).hostnames, ['web-01', 'webz'], 'every tag required');
  t.ok(web.statements.page.postgresSql && web.statements.count?.postgresSql, 'the search runs PostgreSQL\'s own text there');
});

const USERS: ReadonlyArray<{ email: string; name: string; role?: Role; tier?: Tier }> = [
  { email: 'Alice@Example.com', name: 'Alice Smith', role: 'admin' },
  { email: 'alice.b@example.com', name: 'ALICE jones', tier: 'pro' },
  { email: 'ÉMILE@example.com', name: 'Émile Zola' },
  { email: 'émile@example.org', name: 'émile zola', tier: 'pro' },
  { email: 'under_score@example.com', name: 'Under_Score' },
  { email: 'underXscore@example.com', name: 'UnderXscore', role: 'admin' },
  { email: 'caret^x@example.com', name: 'Caret^' },
  { email: 'brack[et@example.com', name: 'Brack[et', tier: 'pro' },
  { email: 'back`tick@example.com', name: 'Back`tick' },
  { email: 'zed@example.com', name: 'Zed', tier: 'pro' },
  { email: 'ZOE@example.com', name: 'zoe', role: 'admin', tier: 'pro' },
  { email: 'percent%@example.com', name: 'Per%cent' },
  { email: `x${MAX}@example.com`, name: `X${MAX}y` },
  { email: 'eve@example.com', name: 'Eve Évian' },
  { email: 'Ed@example.com', name: 'ed' },
  { email: 'edith@example.com', name: 'Edith', role: 'admin' },
];

const USER_SEARCHES = [
  'alice', 'ALICE', 'Alice S', 'É', 'é', 'Émile', 'ÉMILE', 'émile', 'e', 'E', 'ed', 'ED', 'under_', 'UNDER_', 'caret^', 'brack[', 'back`', '_', '%',
  'a', 'A', 'z', 'Z', '[', '^', '`', `x${MAX}`, `X${MAX}`, 'nobody',
];

t.test('admin account search: the same accounts in the same order and the same totals on SQLite and PostgreSQL', async (t) => {
  const db = testDb(t, testConfig(t));
  USERS.forEach((user, i) => {
    // Ids out of insertion order, creation times with ties: the list's tie-break by id shows.
    seedUser(db, { id: `usr_${String((i * 5) % USERS.length).padStart(2, '0')}`, ...user, createdAt: new Date(Date.parse('2026-02-01T00:00:00.000Z') + (i % 6) * 86_400_000).toISOString() });
  });
  const ids = db.prepare<[], { id: string }>('SELECT id FROM users ORDER BY rowid').all().map((row) => row.id);
  const totp = db.prepare(`INSERT INTO totp_secrets (user_id, secret_encrypted, enabled, created_at) VALUES (?, 'sealed', ?, '2026-02-01T00:00:00.000Z')`);
  totp.run(ids[0], 1);
  totp.run(ids[2], 0);
  const engines = await bothEngines(t, db);
  const differences: unknown[] = [];
  const compare = comparer(engines, differences);

  const run = async (search: { q?: string; role?: Role; tier?: Tier }) => {
    const { list, count } = userSearchParams(search);
    const label = JSON.stringify(search);
    const total = count ? (await compare.all(`${label} count`, USER_SEARCH_COUNT, count))[0]!.n : null;
    if (count) await compare.all(`${label} count capped at 2`, USER_SEARCH_COUNT, { ...count, cap: 2 });
    const flags = { q: Boolean(search.q), role: search.role !== undefined, tier: search.tier !== undefined };
    let emails: string[] = [];
    const indexes: UserListIndex[] = ['all', ...(flags.role ? (['role'] as const) : []), ...(flags.tier ? (['tier'] as const) : [])];
    for (const index of indexes) {
      const rows = await compare.all(`${label} ${index} page`, userListStatement(index, flags), { ...list, limit: 100, offset: 0 });
      await compare.all(`${label} ${index} page 2`, userListStatement(index, flags), { ...list, limit: 2, offset: 1 });
      emails = rows.map((row) => row.email);
    }
    if (count) {
      // A search with few matches sorts them instead of walking the list: the same page.
      const sorted = await compare.all(`${label} sorted matches`, USER_MATCHES_PAGE, { ...count, limit: 100, offset: 0 });
      if (JSON.stringify(sorted.map((row) => row.email)) !== JSON.stringify(emails)) differences.push({ label, walked: emails, sorted: sorted.map((row) => row.email) });
      await compare.all(`${label} sorted matches page 2`, USER_MATCHES_PAGE, { ...count, limit: 2, offset: 1 });
    }
    return { total, emails };
  };
  for (const q of [undefined, ...USER_SEARCHES]) {
    for (const role of [undefined, 'admin', 'user'] as const) {
      for (const tier of [undefined, 'pro'] as const) await run({ q, role, tier });
    }
  }
  t.strictSame(differences, [], `${compare.runs} statements answered the same on both engines`);

  // What the comparison rests on: the search finds what SQLite's LIKE finds, ignoring ASCII case only.
  const alice = await run({ q: 'ALICE' });
  t.strictSame(alice.emails.sort(), ['Alice@Example.com', 'alice.b@example.com']);
  t.equal(alice.total, 2);
  t.strictSame((await run({ q: 'é' })).emails, ['émile@example.org'], "'é' does not find 'É'");
  t.strictSame((await run({ q: 'under_' })).emails, ['under_score@example.com'], '_ is taken literally');
  t.strictSame((await run({ q: `X${MAX}` })).total, 1, 'a search ending in U+10FFFF: no upper bound');
  t.ok(USER_SEARCH_COUNT.postgresSql && userListStatement('all', { q: true, role: false, tier: false }).postgresSql, "the search runs PostgreSQL's own text there");
});
