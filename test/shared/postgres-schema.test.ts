import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { POSTGRES_ONLY_TRIGGERS, ROWID_TABLES } from '../../src/migrations/postgres/baseline.js';
import { POSTGRES_MIGRATIONS } from '../../src/migrations/postgres/index.js';
import { migrate, MigrationError } from '../../src/shared/db/migrate.js';
import { migratePostgres, type PostgresMigration } from '../../src/shared/db/migrate-postgres.js';
import { openDatabase, type Db } from '../../src/shared/db/open.js';
import { tempDir, type Teardown } from '../helper.js';
import { connectPostgres, startPostgres } from '../postgres.js';

const cluster = await startPostgres(t);
const LATEST = POSTGRES_MIGRATIONS.at(-1)!.version;
/** Every step this build knows, as schema_migrations records them. */
const ALL_VERSIONS = POSTGRES_MIGRATIONS.map((m) => m.version);

function migratedSqlite(t: Teardown): Db {
  const db = openDatabase(path.join(tempDir(t), 'schema.db'));
  migrate(db, MIGRATIONS);
  t.teardown(() => db.close());
  return db;
}


async function migratedPostgres(t: Teardown): Promise<pg.Client> {
  const url = await cluster.freshDatabase();
  await migratePostgres(url, POSTGRES_MIGRATIONS);
  return connectPostgres(t, url);
}

const sqliteNames = (db: Db, type: 'table' | 'index' | 'trigger' | 'view') =>
  (db.prepare(`SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%' AND sql IS NOT NULL ORDER BY name`).all(type) as { name: string }[]).map(
    (row) => row.name,
  );

t.test('schema parity with a migrated SQLite file', async (t) => {
  const db = migratedSqlite(t);
  const client = await migratedPostgres(t);
  t.equal(LATEST, MIGRATIONS.at(-1)!.version, 'the PostgreSQL list ends at the version SQLite has reached');

  const { rows: pgColumns } = await client.query<{
    table_name: string; column_name: string; is_nullable: string; column_default: string | null; data_type: string; is_identity: string;
  }>(`SELECT table_name, column_name, is_nullable, column_default, data_type, is_identity
        FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`);
  const sqliteTypes: Record<string, string> = { TEXT: 'text', INTEGER: 'bigint', REAL: 'double precision' };
  // '0', 'user'::text, '[]'::text → 0, 'user', '[]' as SQLite writes them.
  const pgDefault = (value: string | null) => value?.replace(/::[a-z ]+$/, '') ?? null;

  const tables = sqliteNames(db, 'table');
  t.ok(tables.length >= 50, 'the SQLite schema was read');
  for (const table of tables) {
    const sqlite = db.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`).all(table) as {
      name: string; type: string; notnull: number; dflt_value: string | null; pk: number;
    }[];
    const postgres = pgColumns.filter((c) => c.table_name === table);
    const extra = ROWID_TABLES.includes(table) ? ['rowid'] : [];
    // A column added later comes after PostgreSQL's identity column, as ALTER TABLE appends there.
    t.same(postgres.map((c) => c.column_name).filter((name) => !extra.includes(name)), sqlite.map((c) => c.name), `${table}: same columns, in order`);
    t.same(extra.filter((name) => !postgres.some((c) => c.column_name === name)), [], `${table}: its identity column`);
    for (const column of sqlite) {
      const match = postgres.find((c) => c.column_name === column.name);
      if (!match) continue;
      t.equal(match.data_type, sqliteTypes[column.type], `${table}.${column.name}: type`);
      // STRICT tables make primary key columns NOT NULL as well.
      t.equal(match.is_nullable === 'NO', column.notnull === 1 || column.pk > 0, `${table}.${column.name}: NOT NULL`);
      t.equal(pgDefault(match.column_default), column.dflt_value, `${table}.${column.name}: default`);
    }
    for (const name of extra) {
      t.equal(postgres.find((c) => c.column_name === name)?.is_identity, 'YES', `${table}.${name} is an identity column`);
    }
  }

  const { rows: pgIndexes } = await client.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`,
  );
  const sqliteIndexes = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`).all() as { name: string; sql: string }[];
  t.ok(sqliteIndexes.length >= 70, 'the SQLite indexes were read');
  for (const index of sqliteIndexes) {
    const match = pgIndexes.find((i) => i.indexname === index.name);
    t.ok(match, `index ${index.name} exists`);
    t.equal(/ WHERE /.test(match?.indexdef ?? ''), / WHERE /.test(index.sql), `index ${index.name}: partial alike`);
    t.equal(/UNIQUE/.test(match?.indexdef ?? ''), /UNIQUE/.test(index.sql), `index ${index.name}: unique alike`);
  }

  const { rows: pgTriggers } = await client.query<{ tgname: string }>(`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname`);
  t.same(pgTriggers.map((r) => r.tgname), [...sqliteNames(db, 'trigger'), ...POSTGRES_ONLY_TRIGGERS].sort(), 'the same triggers by name, plus the documented ones');
  const { rows: pgViews } = await client.query<{ table_name: string }>(`SELECT table_name FROM information_schema.views WHERE table_schema = 'public'`);
  t.same(pgViews.map((r) => r.table_name), sqliteNames(db, 'view'), 'the same views');

  t.same(await snapshot(client, tables), sqliteSnapshot(db, tables), 'the same seeded rows');
  const { rows: windows } = await client.query<{ name: string }>(`SELECT name FROM threat_windows ORDER BY name`);
  t.same(windows.map((r) => r.name), (db.prepare(`SELECT name FROM threat_windows ORDER BY name`).all() as { name: string }[]).map((r) => r.name));
});

/** Rows whose values depend on when the schema was made. */
const TIME_DEPENDENT = new Set(['threat_windows']);

/** Every table's rows as sorted JSON, without the PostgreSQL-only rowid columns. */
async function snapshot(client: pg.Client, tables: string[]): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const table of tables.filter((name) => !TIME_DEPENDENT.has(name))) {
    const { rows } = await client.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
    result[table] = rows.map(({ rowid: _rowid, ...row }) => JSON.stringify(row)).sort();
  }
  return result;
}

function sqliteSnapshot(db: Db, tables: string[]): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const table of tables.filter((name) => !TIME_DEPENDENT.has(name))) {
    result[table] = (db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[]).map((row) => JSON.stringify(row)).sort();
  }
  return result;
}

const T0 = '2026-03-01T10:15:00.000Z';
const T1 = '2026-03-01T11:20:00.000Z';
const T2 = '2026-03-02T09:05:00.000Z';

const ioc = (id: string, type: string, value: string, o: { rep?: number; status?: string; category?: string | null; metadata?: string; seen?: string; seq: number }) =>
  `INSERT INTO iocs (id, type, value, reputation, status, category, severity, confidence, source, metadata, first_seen, last_seen, updated_at, change_seq)
   VALUES ('${id}', '${type}', '${value}', ${o.rep ?? 50}, '${o.status ?? 'active'}', ${o.category === null ? 'NULL' : `'${o.category ?? 'malware'}'`},
           'high', 0.5, 'upload', '${o.metadata ?? '{}'}', '${o.seen ?? T0}', '${o.seen ?? T0}', '${o.seen ?? T0}', ${o.seq})`;
const sighting = (id: string, iocId: string, at: string, reporter = 'r1') =>
  `INSERT INTO sightings (id, ioc_id, kind, source, reporter_id, created_at) VALUES ('${id}', '${iocId}', 'sighting', 'upload', '${reporter}', '${at}')`;

/**
 * The same writes on both engines, in order, each naming the triggers it exercises; state
 * builds up, so later steps move counters that earlier ones made.
 */
const STEPS: { triggers: string[]; sql: string[] }[] = [
  {
    triggers: ['user_counts_insert'],
    sql: [
      `INSERT INTO users (id, email, name, password_hash, role, tier, created_at, updated_at) VALUES
        ('u1', 'a@example.com', 'A', 'h', 'user', 'community', '${T0}', '${T0}'),
        ('u2', 'b@example.com', 'B', 'h', 'admin', 'pro', '${T0}', '${T0}'),
        ('u3', 'c@example.com', 'C', 'h', 'user', 'community', '${T2}', '${T2}')`,
    ],
  },
  {
    triggers: ['api_key_generation_key_insert', 'api_key_generation_key_update', 'api_key_generation_key_delete'],
    sql: [
      `INSERT INTO api_keys (id, name, key_hash, prefix, masked, origin, owner_user_id, tier, scopes, created_at) VALUES
        ('k1', 'one', 'kh1', 'p', 'm', 'user', 'u1', NULL, '[]', '${T0}'),
        ('k2', 'two', 'kh2', 'p', 'm', 'operator', NULL, 'pro', '[]', '${T0}'),
        ('k3', 'three', 'kh3', 'p', 'm', 'user', 'u3', NULL, '[]', '${T0}')`,
      `UPDATE api_keys SET revoked_at = '${T1}' WHERE id IN ('k1', 'k2')`,
      `DELETE FROM api_keys WHERE id = 'k2'`,
    ],
  },
  {
    triggers: ['user_counts_update', 'api_key_generation_owner_update', 'user_signups_update'],
    sql: [
      `UPDATE users SET tier = 'pro' WHERE id = 'u1'`,
      `UPDATE users SET suspended = 1 WHERE id = 'u2'`,
      `UPDATE users SET role = 'admin', name = 'C2' WHERE id = 'u3'`,
      `UPDATE users SET tier = tier, suspended = suspended WHERE id = 'u1'`,
      `UPDATE users SET created_at = '${T2}' WHERE id = 'u2'`,
      `UPDATE users SET created_at = '2026-03-02T23:00:00.000Z' WHERE id = 'u2'`,
    ],
  },
  {
    triggers: ['totp_counts_insert', 'totp_counts_on', 'totp_counts_off', 'totp_counts_delete'],
    sql: [
      `INSERT INTO totp_secrets (user_id, secret_encrypted, enabled, created_at) VALUES ('u1', 's', 0, '${T0}'), ('u2', 's', 1, '${T0}'), ('u3', 's', 1, '${T0}')`,
      `UPDATE totp_secrets SET enabled = 1 WHERE user_id = 'u1'`,
      `UPDATE totp_secrets SET enabled = 0 WHERE user_id = 'u2'`,
      `UPDATE totp_secrets SET enabled = 1 WHERE user_id = 'u3'`,
      `DELETE FROM totp_secrets WHERE user_id IN ('u2', 'u3')`,
    ],
  },
  {
    triggers: ['audit_counts_insert', 'audit_counts_action', 'audit_counts_actor', 'audit_counts_delete'],
    sql: [
      `INSERT INTO audit_log (id, action, actor_id, target_id, created_at) VALUES
        ('a1', 'login', 'u1', NULL, '${T0}'), ('a2', 'login', NULL, 'u2', '${T0}'), ('a3', 'logout', 'u1', 'u1', '${T1}'), ('a4', 'reset', 'u2', NULL, '${T1}')`,
      `UPDATE audit_log SET action = 'logout' WHERE id = 'a1'`,
      `UPDATE audit_log SET actor_id = 'u3' WHERE id = 'a2'`,
      `UPDATE audit_log SET actor_id = NULL WHERE id = 'a4'`,
      `DELETE FROM audit_log WHERE id IN ('a3', 'a4')`,
    ],
  },
  {
    triggers: ['fleet_counts_agent_insert', 'fleet_counts_agent_os', 'fleet_counts_agent_org', 'fleet_counts_agent_delete'],
    sql: [
      `INSERT INTO agents (id, org_id, hostname, os, version, ip, token_hash, status_changed_at, last_heartbeat_ms, registered_at) VALUES
        ('g1', 'o1', 'web-1', 'linux', '1', '10.0.0.1', 't1', '${T0}', 1000, '${T0}'),
        ('g2', 'o1', 'web-2', 'linux', '1', '10.0.0.2', 't2', '${T0}', 1000, '${T0}'),
        ('g3', 'o2', 'db-1', 'windows', '1', '10.0.0.3', 't3', '${T0}', 1000, '${T0}')`,
      `UPDATE agents SET os = 'darwin' WHERE id = 'g2'`,
      `UPDATE agents SET org_id = 'o3' WHERE id = 'g3'`,
      `UPDATE agents SET last_heartbeat_ms = 2000`,
      `DELETE FROM agents WHERE id IN ('g1', 'g3')`,
    ],
  },
  {
    triggers: ['fleet_counts_policy_insert', 'fleet_counts_policy_delete'],
    sql: [
      `INSERT INTO policies (id, org_id, agent_id, version, name, rules, created_at) VALUES ('p1', 'o1', NULL, 1, 'one', '[]', '${T0}'), ('p2', NULL, 'g2', 2, 'two', '[]', '${T0}')`,
      `DELETE FROM policies WHERE id = 'p1'`,
    ],
  },
  {
    triggers: ['iocs_count_insert', 'iocs_techniques_insert', 'intel_hourly_ioc_insert', 'tc_list_rank_insert'],
    sql: [
      ioc('i1', 'ip', '203.0.113.1', { seq: 1, metadata: `{"mitreIds": [" t1059 ", "T1566", 5, "", "t1059"], "mitreId": "t1071"}` }),
      ioc('i2', 'domain', 'evil.example', { seq: 2, category: null, metadata: `{"mitreId": {"a": "t1001", "b": 3}}`, seen: T1 }),
      ioc('i3', 'ip', '203.0.113.3', { seq: 3, status: 'whitelisted', metadata: 'not json', rep: 10 }),
      ioc('i4', 'url', 'http://evil.example/x', { seq: 4, category: 'phishing', metadata: `{"mitreIds": "T1204"}`, seen: T2 }),
      ioc('i5', 'hash', 'abc123', { seq: 5, metadata: `["T1000"]`, rep: 90 }),
    ],
  },
  {
    triggers: ['tc_list_sources_insert', 'tc_list_source_insert'],
    sql: [
      `INSERT INTO tc_sources (source, first_seen) VALUES ('feed-a', '${T0}'), ('feed-b', '${T0}'), ('feed-c', '${T1}')`,
      `INSERT INTO ioc_sources (source, ioc_id) VALUES ('feed-a', 'i1'), ('feed-a', 'i2'), ('feed-b', 'i1'), ('feed-b', 'i4'), ('feed-c', 'i5')`,
    ],
  },
  {
    triggers: ['intel_hourly_sighting_insert', 'tc_list_report_insert'],
    sql: [
      sighting('s1', 'i1', T0), sighting('s2', 'i1', T1), sighting('s3', 'i1', T1, 'r2'), sighting('s4', 'i2', T1),
      sighting('s5', 'i3', T0), sighting('s6', 'i4', T2), sighting('s7', 'i5', T2),
    ],
  },
  {
    triggers: ['tc_list_campaign_size_insert', 'tc_list_member_insert', 'tc_list_technique_insert', 'tc_list_reporter_insert'],
    sql: [
      `INSERT INTO ioc_reporters (ioc_id, reporter_id, first_seen) VALUES ('i1', 'r1', '${T0}'), ('i1', 'r2', '${T0}'), ('i2', 'r1', '${T0}'), ('i4', 'r3', '${T0}')`,
      `INSERT INTO campaigns (id, first_seen, last_activity, ioc_count, created_at, formed_at, updated_at) VALUES
        ('c1', '${T0}', '${T1}', 2, '${T0}', '${T1}', '${T1}'), ('c2', '${T0}', '${T1}', 1, '${T0}', NULL, '${T1}')`,
      `INSERT INTO campaign_iocs (ioc_id, campaign_id, added_at) VALUES ('i1', 'c1', '${T1}'), ('i2', 'c1', '${T1}'), ('i4', 'c2', '${T1}')`,
      `INSERT INTO campaign_techniques (campaign_id, technique_id) VALUES ('c1', 'T1059'), ('c1', 'T1566'), ('c2', 'T1204')`,
      `INSERT INTO ioc_reporters (ioc_id, reporter_id, first_seen) VALUES ('i2', 'r4', '${T1}'), ('i4', 'r5', '${T1}')`,
    ],
  },
  {
    triggers: ['tc_list_campaign_formed', 'tc_list_campaign_size'],
    sql: [
      `UPDATE campaigns SET formed_at = '${T2}' WHERE id = 'c2'`,
      `UPDATE campaigns SET ioc_count = 5 WHERE id = 'c1'`,
      `UPDATE campaigns SET formed_at = NULL WHERE id = 'c2'`,
      `UPDATE campaigns SET formed_at = '${T2}', ioc_count = 3 WHERE id = 'c2'`,
    ],
  },
  {
    triggers: ['tc_list_reporter_update', 'tc_list_reporter_delete', 'tc_list_member_move', 'tc_list_member_delete', 'tc_list_technique_delete'],
    sql: [
      `UPDATE ioc_reporters SET reporter_id = 'r9' WHERE ioc_id = 'i1' AND reporter_id = 'r2'`,
      `UPDATE ioc_reporters SET ioc_id = 'i5' WHERE ioc_id = 'i2' AND reporter_id = 'r4'`,
      `DELETE FROM ioc_reporters WHERE ioc_id = 'i4' AND reporter_id = 'r3'`,
      `UPDATE campaign_iocs SET campaign_id = 'c2' WHERE ioc_id = 'i2'`,
      `INSERT INTO campaign_iocs (ioc_id, campaign_id, added_at) VALUES ('i5', 'c1', '${T2}')`,
      `UPDATE campaign_iocs SET ioc_id = 'i3' WHERE ioc_id = 'i5'`,
      `DELETE FROM campaign_iocs WHERE ioc_id = 'i3'`,
      `DELETE FROM campaign_techniques WHERE technique_id = 'T1566'`,
    ],
  },
  {
    triggers: [
      'iocs_techniques_update', 'iocs_techniques_last_seen', 'iocs_count_update', 'tc_list_report_category', 'intel_hourly_ioc_leave',
      'intel_hourly_ioc_enter', 'tc_list_rank_update', 'tc_list_source_ioc_update',
    ],
    sql: [
      `UPDATE iocs SET metadata = '{"mitreIds": ["t1110"]}' WHERE id = 'i1'`,
      `UPDATE iocs SET metadata = metadata WHERE id = 'i2'`,
      `UPDATE iocs SET last_seen = '${T2}', updated_at = '${T2}', change_seq = 6 WHERE id = 'i1'`,
      `UPDATE iocs SET category = 'botnet', change_seq = 7 WHERE id = 'i2'`,
      `UPDATE iocs SET status = 'whitelisted', change_seq = 8 WHERE id = 'i4'`,
      `UPDATE iocs SET status = 'active', change_seq = 9 WHERE id = 'i3'`,
      `UPDATE iocs SET first_seen = '${T1}' WHERE id = 'i5'`,
      `UPDATE iocs SET reputation = reputation + 7, change_seq = change_seq + 100 WHERE status = 'active'`,
      `UPDATE iocs SET type = 'domain', value = 'x.example', change_seq = 200 WHERE id = 'i5'`,
      `UPDATE iocs SET category = NULL, change_seq = 201 WHERE id = 'i1'`,
    ],
  },
  {
    triggers: ['tc_list_source_delete', 'tc_list_sources_delete', 'tc_list_audit_insert', 'tc_list_audit_delete'],
    sql: [
      `DELETE FROM ioc_sources WHERE source = 'feed-b' AND ioc_id = 'i1'`,
      `DELETE FROM tc_sources WHERE source = 'feed-c'`,
      `INSERT INTO tc_audit_log (id, action, resource, created_at) VALUES ('t1', 'create', 'ioc', '${T0}'), ('t2', 'query', 'ioc', '${T0}'), ('t3', 'query', 'ioc', '${T1}')`,
      `DELETE FROM tc_audit_log WHERE id = 't2'`,
    ],
  },
  {
    triggers: ['tc_list_campaign_delete', 'tc_list_campaign_size_delete'],
    sql: [`DELETE FROM campaigns WHERE id = 'c2'`],
  },
  {
    triggers: ['iocs_count_delete', 'tc_list_rank_delete', 'tc_list_source_ioc_delete', 'tc_list_ioc_delete'],
    sql: [`DELETE FROM iocs WHERE id = 'i1'`, `DELETE FROM iocs WHERE id IN ('i3', 'i4')`],
  },
  {
    triggers: ['user_counts_delete', 'api_key_generation_owner_delete'],
    sql: [`DELETE FROM users WHERE id IN ('u1', 'u2')`],
  },
];

t.test('every trigger keeps the same rows on both engines', async (t) => {
  const db = migratedSqlite(t);
  const client = await migratedPostgres(t);
  const tables = sqliteNames(db, 'table');
  const exercised = new Set(STEPS.flatMap((step) => step.triggers));
  t.same([...exercised].sort(), [...sqliteNames(db, 'trigger'), ...POSTGRES_ONLY_TRIGGERS].sort(), 'the steps exercise every trigger');

  for (const step of STEPS) {
    for (const sql of step.sql) {
      db.exec(sql);
      await client.query(sql);
    }
    const expected = sqliteSnapshot(db, tables);
    t.same(await snapshot(client, tables), expected, `after ${step.triggers.join(', ')}`);
  }
  // The comparison would pass on two schemas without triggers: the counters must have moved.
  const counted = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  for (const table of ['ioc_counts', 'intel_hourly', 'ioc_rank_counts', 'ioc_source_counts', 'ioc_techniques', 'tc_report_hours',
    'campaign_reporters', 'campaign_technique_counts', 'fleet_counts', 'user_counts', 'user_signups', 'auth_counts', 'tc_audit_hours']) {
    t.ok(counted(table) > 0, `${table} holds counted rows`);
  }
});

async function versions(client: pg.Client): Promise<number[]> {
  const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((row) => row.version);
}

t.test('two processes migrating one fresh database together apply each step once', async (t) => {
  const url = await cluster.freshDatabase();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  t.teardown(() => pool.end());
  const [first, second] = await Promise.all([migratePostgres(url, POSTGRES_MIGRATIONS), migratePostgres(pool, POSTGRES_MIGRATIONS)]);
  t.same([first.version, second.version], [LATEST, LATEST], 'both report the version reached');
  t.same([...first.applied, ...second.applied], POSTGRES_MIGRATIONS.map((m) => m.version), 'each step applied by one of them');
  const client = await connectPostgres(t, url);
  t.same(await versions(client), POSTGRES_MIGRATIONS.map((m) => m.version));
  t.same(await migratePostgres(url, POSTGRES_MIGRATIONS), { applied: [], version: LATEST }, 'a later start applies nothing');
});

t.test('a failing step leaves the database as the previous step left it', async (t) => {
  const url = await cluster.freshDatabase();
  await migratePostgres(url, POSTGRES_MIGRATIONS);
  const failing: PostgresMigration = {
    version: LATEST + 1,
    name: 'a step that breaks halfway',
    statements: ['CREATE TABLE doomed (x integer)', 'INSERT INTO doomed VALUES (1)', `UPDATE tc_list_totals SET n = 42`, 'SELECT * FROM missing_table'],
  };
  const error = await migratePostgres(url, [...POSTGRES_MIGRATIONS, failing]).catch((e: unknown) => e);
  t.type(error, MigrationError);
  t.match((error as Error).message, new RegExp(`Migration ${LATEST + 1} \\(a step that breaks halfway\\) failed at "SELECT \\* FROM missing_table"`));
  const client = await connectPostgres(t, url);
  t.equal((await client.query(`SELECT to_regclass('doomed') AS found`)).rows[0].found, null, 'the table it created is gone');
  t.same((await client.query(`SELECT DISTINCT n FROM tc_list_totals`)).rows, [{ n: 0 }], 'the rows it changed are as they were');
  t.same(await versions(client), ALL_VERSIONS, 'the version is unchanged');
});

t.test('a database newer than this build is refused', async (t) => {
  const url = await cluster.freshDatabase();
  await migratePostgres(url, POSTGRES_MIGRATIONS);
  const client = await connectPostgres(t, url);
  await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [LATEST + 5]);
  await t.rejects(migratePostgres(url, POSTGRES_MIGRATIONS), {
    name: 'MigrationError',
    message: `Database schema version ${LATEST + 5} is newer than this build knows (${LATEST}); upgrade Panguard before using this database`,
  });
  t.same(await versions(client), [...ALL_VERSIONS, LATEST + 5], 'nothing was touched');
});

t.test('the migration list must be in order', async (t) => {
  const url = await cluster.freshDatabase();
  await t.rejects(migratePostgres(url, [...POSTGRES_MIGRATIONS, { ...POSTGRES_MIGRATIONS[0]!, name: 'again' }]), { name: 'MigrationError', message: /out of order/ });
});
