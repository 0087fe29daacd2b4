import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import t from 'tap';
import { ROWID_TABLES } from '../../src/migrations/postgres/baseline.js';
import { POSTGRES_MIGRATIONS } from '../../src/migrations/postgres/index.js';
import { migratePostgres } from '../../src/shared/db/migrate-postgres.js';
import { declaredPostgresText, declaredStatements } from '../../src/shared/db/storage.js';
import { startPostgres } from '../postgres.js';
import {
  behaviourRisks,
  sqliteJsonFunctions,
  foldedAliases,
  collectRuntimeSql,
  createSourceFinder,
  gapKind,
  normaliseSql,
  postgresRefusal,
  skipReason,
  statementKey,
} from '../postgres-dialect.js';

/**
 * The SQL dialect gaps, inventoried: every statement the three apps prepare at run time is
 * parsed and analysed by PostgreSQL (PREPARE, nothing executed) on the baseline schema. Each
 * refusal must be listed in postgres-dialect-gaps.json; a new statement PostgreSQL refuses, or
 * a listed one it now accepts, fails here. The conversion to the storage port works the list
 * down to nothing.
 */

const INVENTORY = path.join(import.meta.dirname, 'postgres-dialect-gaps.json');
const REGENERATE = 'UPDATE_DIALECT_GAPS=1 npx tap test/shared/postgres-dialect.test.ts';

interface Gap {
  key: string;
  file: string | null;
  kind: string;
  message: string;
  sql: string;
}

interface Inventory {
  about: string;
  gaps: Gap[];
}

/** The same expressions on both engines: the premises of the behaviour risks each statement is flagged with. */
const FACTS: ReadonlyArray<readonly [name: string, sqlite: string, postgres: string, sqliteAnswer: unknown, postgresAnswer: unknown]> = [
  ['LIKE ignores ASCII case on SQLite only', `SELECT 'ABC' LIKE 'abc' AS v`, `SELECT 'ABC' LIKE 'abc' AS v`, 1, false],
  ['integer division truncates on both', `SELECT 7 / 2 AS v`, `SELECT 7 / 2 AS v`, 3, 3],
  ['round() of a double: half away from zero on SQLite, half to even on PostgreSQL', `SELECT round(2.5) AS v`, `SELECT round(2.5::float8) AS v`, 3, 2],
  ['round() of a numeric is half away from zero on PostgreSQL', `SELECT round(2.5) AS v`, `SELECT round(2.5::numeric)::float8 AS v`, 3, 3],
  ['|| with NULL is NULL on both', `SELECT 'a' || NULL AS v`, `SELECT 'a' || NULL AS v`, null, null],
  ['NULL sorts first ascending on SQLite, last on PostgreSQL', `SELECT x AS v FROM (SELECT 1 AS x UNION ALL SELECT NULL) ORDER BY x LIMIT 1`, `SELECT x AS v FROM (VALUES (1), (NULL)) AS r(x) ORDER BY x LIMIT 1`, null, 1],
  ['ISO timestamps compare byte by byte on both (C collation)', `SELECT '2026-03-07T12:00:00.000Z' < '2026-03-07T12:00:00Z' AND 'B' < 'a' AS v`, `SELECT '2026-03-07T12:00:00.000Z' < '2026-03-07T12:00:00Z' AND 'B' < 'a' AS v`, 1, true],
  ['scalar max() with a NULL: NULL on SQLite, greatest() ignores it', `SELECT max(1, NULL) AS v`, `SELECT greatest(1, NULL) AS v`, null, 1],
];

const cluster = await startPostgres(t);

t.test('every statement the apps prepare parses on PostgreSQL or is listed as a known dialect gap', async (t) => {
  const url = await cluster.freshDatabase();
  await migratePostgres(url, POSTGRES_MIGRATIONS);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());

  const collected = await collectRuntimeSql(t);
  t.same(collected.failures, [], 'every request of the drive succeeded (a failing one prepares less)');

  const skipped = new Map<string, number>();
  const statements = new Map<string, string>();
  // Port statements are prepared when they first run; those the drive never reached count too.
  const declared = declaredStatements().map((statement) => statement.sql);
  for (const sql of [...collected.prepared, ...collected.executed, ...declared]) {
    const reason = skipReason(sql);
    if (reason) skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
    else statements.set(statementKey(sql), sql);
  }
  t.ok(statements.size >= 300, `${statements.size} statements collected`);

  const findSource = createSourceFinder();
  const gaps: Gap[] = [];
  const risks = new Map<string, string[]>();
  const jsonWithoutPostgresText: string[] = [];
  const folded: string[] = [];
  let perEngine = 0;
  for (const [key, sql] of statements) {
    // A statement written per engine has its own test that both give the same rows; every
    // other one is flagged with what may make it answer differently.
    if (declaredPostgresText(sql) !== undefined) perEngine += 1;
    else {
      for (const risk of behaviourRisks(sql, ROWID_TABLES)) risks.set(risk, [...(risks.get(risk) ?? []), key]);
      const json = sqliteJsonFunctions(sql);
      if (json.length > 0) jsonWithoutPostgresText.push(`${findSource(sql) ?? '?'}: ${json.join(', ')} in ${normaliseSql(sql).slice(0, 160)}`);
    }
    const aliases = foldedAliases(declaredPostgresText(sql) ?? sql);
    if (aliases.length > 0) folded.push(`${findSource(sql) ?? '?'}: ${aliases.join(', ')}`);
    const message = await postgresRefusal(client, sql);
    if (message === null) continue;
    gaps.push({
      key,
      file: findSource(sql),
      kind: gapKind(sql, message),
      message,
      sql: normaliseSql(sql),
    });
  }
  gaps.sort((a, b) => (a.file ?? '~').localeCompare(b.file ?? '~') || a.key.localeCompare(b.key));

  const byKind = (list: Gap[], pick: (gap: Gap) => string) =>
    Object.entries(list.reduce<Record<string, number>>((counts, gap) => ({ ...counts, [pick(gap)]: (counts[pick(gap)] ?? 0) + 1 }), {})).sort(
      (a, b) => b[1] - a[1] || a[0].localeCompare(b[0]),
    );
  t.comment(`${statements.size} statements collected (${collected.prepared.size} prepared, ${collected.executed.size} executed); skipped: ${[...skipped].map(([r, n]) => `${n} ${r}`).join(', ') || 'none'}`);
  t.comment(`${statements.size - gaps.length} compatible (${perEngine} of them written per engine), ${gaps.length} gaps`);
  t.comment(`gaps by kind: ${byKind(gaps, (gap) => gap.kind).map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
  for (const [risk, keys] of [...risks].sort((a, b) => b[1].length - a[1].length)) t.comment(`may answer differently once it runs (${keys.length}): ${risk}`);
  t.same(jsonWithoutPostgresText, [], 'a statement using a SQLite JSON function has its own PostgreSQL text (and a test on both engines)');
  t.same(folded, [], 'a mixed-case output name is in double quotes: PostgreSQL folds an unquoted one to lower case');

  if (process.env.UPDATE_DIALECT_GAPS === '1') {
    const inventory: Inventory = {
      about: `Statements PostgreSQL refuses, written by ${REGENERATE}; the conversion to the storage port empties it.`,
      gaps,
    };
    writeFileSync(INVENTORY, `${JSON.stringify(inventory, null, 2)}\n`);
    t.pass(`${INVENTORY} rewritten with ${gaps.length} gaps`);
    return;
  }

  const listed = (JSON.parse(readFileSync(INVENTORY, 'utf8')) as Inventory).gaps;
  const listedKeys = new Map(listed.map((gap) => [gap.key, gap]));
  const found = new Set(gaps.map((gap) => gap.key));
  const unlisted = gaps.filter((gap) => !listedKeys.has(gap.key)).map((gap) => `${gap.key} ${gap.file ?? '?'} [${gap.kind}] ${gap.message}\n    ${gap.sql.slice(0, 300)}`);
  t.same(unlisted, [], `new SQL must run on PostgreSQL as well: rewrite it, or (consciously) list it with ${REGENERATE}`);
  const stale = listed.filter((gap) => !found.has(gap.key)).map((gap) => `${gap.key} ${gap.file ?? '?'} [${gap.kind}]`);
  t.same(stale, [], `listed gaps no statement has any more (fixed or gone): remove them with ${REGENERATE}`);
  const changed = gaps
    .filter((gap) => listedKeys.has(gap.key) && listedKeys.get(gap.key)!.message !== gap.message)
    .map((gap) => `${gap.key}: listed "${listedKeys.get(gap.key)!.message}", PostgreSQL now says "${gap.message}"`);
  t.same(changed, [], `listed gaps whose reason changed: update them with ${REGENERATE}`);
});

t.test('the dialect differences behind the behaviour risks hold on these engines', async (t) => {
  const client = new pg.Client({ connectionString: await cluster.freshDatabase() });
  await client.connect();
  t.teardown(() => client.end());
  const sqlite = new Database(':memory:');
  t.teardown(() => sqlite.close());
  for (const [name, onSqlite, onPostgres, sqliteAnswer, postgresAnswer] of FACTS) {
    const sqliteValue = (sqlite.prepare(onSqlite).get() as { v: unknown }).v;
    const postgresValue = (await client.query<{ v: unknown }>(onPostgres)).rows[0]!.v;
    // node-postgres hands numerics over as text; compare the values.
    const asNumber = (value: unknown) => (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value);
    t.same([sqliteValue, asNumber(postgresValue)], [sqliteAnswer, postgresAnswer], name);
  }
});
