import { toIso } from '../../src/shared/clock.js';
import type { Db } from '../../src/shared/db/open.js';
import { rebuildThreatCounts } from '../../src/manager/stores/threat-counts.js';

export interface FleetSeedOptions {
  /** Manager threat events, spread over the 30 days before `now`. */
  events: number;
  /** Manager agents: half in org `default`, the rest in user orgs and two named ones. */
  agents: number;
  /** Auth accounts (a few admins), each with a session; a fifth with TOTP enabled. */
  users: number;
  /** Auth audit entries over the year before `now`. */
  audit: number;
  now?: number;
  /** Progress lines (default: standard error). */
  log?: (line: string) => void;
}

export interface FleetSeedResult {
  events: number;
  agents: number;
  users: number;
  sessions: number;
  audit: number;
  seconds: number;
}

/** `CASE <expr> WHEN 0 THEN 'a' …`: pick from a list by a computed index. */
const pick = (expr: string, values: readonly string[]) => `CASE ${expr} ${values.map((v, i) => `WHEN ${i} THEN '${v}'`).join(' ')} END`;
/** A value by weight: `bucket` is 0–99, the weights add up to 100. */
const weighted = (bucket: string, entries: ReadonlyArray<readonly [string, number]>) => {
  let upper = 0;
  const whens = entries.map(([value, weight]) => {
    upper += weight;
    return `WHEN ${bucket} < ${upper} THEN '${value}'`;
  });
  return `CASE ${whens.join(' ')} END`;
};

const FIRST = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor', 'walter', 'yara'] as const;
const LAST = ['smith', 'jones', 'garcia', 'miller', 'davis', 'lopez', 'wilson', 'moore', 'taylor', 'lee', 'white', 'harris', 'clark', 'lewis', 'young', 'king', 'wright', 'scott', 'green', 'baker'] as const;
const DOMAINS = ['example.com', 'example.net', 'example.org', 'corp.example', 'mail.example'] as const;
const TAGS = ['prod', 'staging', 'web', 'db', 'eu', 'us', 'edge', 'batch'] as const;
const OS = ['linux', 'linux', 'linux', 'win32', 'darwin', 'freebsd'] as const;
const EVENT_TYPES: ReadonlyArray<readonly [string, number]> = [
  ['brute_force', 30], ['port_scan', 25], ['suspicious_process', 15], ['malware_detected', 10],
  ['file_integrity', 8], ['privilege_escalation', 5], ['exploit_attempt', 4], ['c2_connection', 3],
];
const SEVERITY_WEIGHTS: ReadonlyArray<readonly [string, number]> = [['low', 40], ['medium', 30], ['high', 20], ['critical', 10]];
const TIER_WEIGHTS: ReadonlyArray<readonly [string, number]> = [['community', 80], ['solo', 10], ['pro', 6], ['business', 3], ['enterprise', 1]];
const AUDIT_ACTIONS: ReadonlyArray<readonly [string, number]> = [
  ['login.success', 45], ['login.failure', 20], ['logout', 12], ['api_key.create', 5], ['password_reset.request', 4],
  ['session.revoke', 3], ['data.export', 2], ['totp.enable', 2], ['api_key.revoke', 2], ['enroll_token.create', 2],
  ['logout.all', 1], ['totp.disable', 1], ['admin.user.update', 1],
];

/**
 * Loads a large fleet and account base straight into the tables (benchmarks and the
 * no-stall measurements; never the tests): agents with tags, a month of threat events,
 * accounts with sessions and TOTP, a year of audit entries. Rows are generated inside SQLite
 * by recursive CTEs, one prepared INSERT … SELECT per table, each table in one transaction.
 * Counters kept by triggers follow by themselves; the Manager's windowed threat counts, kept
 * by the ingestion transaction, are recounted at the end.
 */
export function seedFleetAndAccounts(db: Db, options: FleetSeedOptions): FleetSeedResult {
  const started = Date.now();
  const now = options.now ?? Date.now();
  const nowIso = toIso(now);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const sessionsBefore = (db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;
  const tag = (db.prepare(`SELECT lower(hex(randomblob(3))) AS t`).get() as { t: string }).t;
  // Random draws are made once per row in a MATERIALIZED step: a plain subquery would be
  // flattened and \`random()\` drawn again wherever the column is used.
  const counter = (columns: string) =>
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @count),
     r AS MATERIALIZED (SELECT i, ${columns} FROM n)`;
  const draw = (name: string, modulo: string) => `abs(random()) % (${modulo}) AS ${name}`;
  const iso = (msExpr: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', (${msExpr}) / 1000.0, 'unixepoch')`;

  const insertUsers = db.prepare(`${counter(`${draw('tier', '100')}, ${draw('sus', '100')}, ${draw('age', '730 * 86400000')}, ${draw('login', '7 * 86400000')}`)}
    INSERT INTO users (id, email, name, password_hash, role, tier, suspended, plan_expires_at, created_at, updated_at, last_login_at)
    SELECT 'usr_' || @tag || printf('%08d', i),
      ${pick('i % 20', FIRST)} || '.' || ${pick('(i / 20) % 20', LAST)} || i || '.' || @tag || '@' || ${pick('i % 5', DOMAINS)},
      upper(substr(${pick('i % 20', FIRST)}, 1, 1)) || substr(${pick('i % 20', FIRST)}, 2) || ' ' ||
        upper(substr(${pick('(i / 20) % 20', LAST)}, 1, 1)) || substr(${pick('(i / 20) % 20', LAST)}, 2),
      'scrypt$seed', CASE WHEN i % 20000 = 7 THEN 'admin' ELSE 'user' END,
      ${weighted('tier', TIER_WEIGHTS)}, (sus = 0 AND i % 20000 <> 7), NULL, ${iso('@nowMs - age')}, ${iso('@nowMs - age')},
      ${iso('@nowMs - login')}
    FROM r`);
  const seededUsers = `SELECT id, rowid, created_at FROM users WHERE id LIKE 'usr\\_' || @tag || '%' ESCAPE '\\'`;
  const insertSessions = db.prepare(`
    WITH s AS MATERIALIZED (SELECT id, rowid, ${draw('dead', '10')}, ${draw('used', '3600000')} FROM (${seededUsers}))
    INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, ip, user_agent)
    SELECT 'ses_' || lower(hex(randomblob(12))), id, ${iso('@nowMs - 86400000 * (CASE WHEN dead = 0 THEN 9 ELSE 1 END)')}, ${iso('@nowMs + 86400000 * (CASE WHEN dead = 0 THEN -2 ELSE 7 END)')},
      ${iso('@nowMs - used')}, '198.51.100.' || (rowid % 250), 'seed-agent/1.0'
    FROM s`);
  const insertTotp = db.prepare(`
    INSERT INTO totp_secrets (user_id, secret_encrypted, enabled, created_at, enabled_at)
    SELECT id, 'seed', 1, created_at, created_at FROM (${seededUsers}) WHERE rowid % 5 = 0`);
  const insertAudit = db.prepare(`${counter(`${draw('act', '100')}, ${draw('who', '@users')}, ${draw('age', '365 * 86400000')}`)}
    INSERT INTO audit_log (id, action, actor_id, target_id, ip, details, created_at)
    SELECT 'audit_' || lower(hex(randomblob(12))), ${weighted('act', AUDIT_ACTIONS)}, 'usr_' || @tag || printf('%08d', who),
      'usr_' || @tag || printf('%08d', who), '198.51.100.' || (i % 250), '{}', ${iso('@nowMs - age')}
    FROM r ORDER BY age DESC`);

  const insertAgents = db.prepare(`${counter(`${draw('beat', '60000')}, ${draw('gone', '86400000 * 10')}`)}
    INSERT INTO agents (id, org_id, hostname, os, version, ip, tags, token_hash, status, status_changed_at, last_heartbeat_ms, registered_at)
    SELECT 'agent-' || @tag || printf('%08d', i), org, 'host-' || @tag || '-' || i, ${pick(`i % ${OS.length}`, OS)}, '1.' || (i % 4) || '.0',
      '10.' || ((i >> 16) & 255) || '.' || ((i >> 8) & 255) || '.' || (i & 255),
      json_array(${pick(`i % ${TAGS.length}`, TAGS)}, ${pick(`(i / ${TAGS.length} + 1) % ${TAGS.length}`, TAGS)}),
      lower(hex(randomblob(32))),
      CASE WHEN hb_age < 120000 THEN 'online' WHEN hb_age < 300000 THEN 'stale' ELSE 'offline' END,
      @nowIso, @nowMs - hb_age, ${iso('@nowMs - 86400000 * 60 + i * 1000')}
    FROM (SELECT i,
        CASE WHEN i % 2 = 0 THEN 'default' WHEN i % 10 = 1 THEN 'acme' WHEN i % 10 = 3 THEN 'globex'
          ELSE 'usr_' || @tag || printf('%08d', (i * 7919) % max(@users, 1) / 100 * 100) END AS org,
        CASE WHEN i % 10 < 6 THEN beat WHEN i % 10 = 6 THEN 150000 ELSE 400000 + gone END AS hb_age
      FROM r)`);
  const insertTags = db.prepare(`
    INSERT OR IGNORE INTO agent_tags (agent_id, tag)
    SELECT a.id, t.value FROM agents a, json_each(a.tags) t WHERE a.id LIKE 'agent-' || @tag || '%'`);
  const insertRareTag = db.prepare(`
    INSERT OR IGNORE INTO agent_tags (agent_id, tag) SELECT id, 'rare' FROM agents WHERE id LIKE 'agent-' || @tag || '%' AND rowid % 1000 = 0`);
  const insertEvents = db.prepare(`${counter(`${draw('kind', '100')}, ${draw('sev', '100')}, ${draw('age', '30 * 86400000')}, 1 + ${draw('agentRow', '@agentCount')}`)},
     fleet AS MATERIALIZED (SELECT row_number() OVER (ORDER BY rowid) AS r, id, org_id, hostname FROM agents WHERE id LIKE 'agent-' || @tag || '%')
    INSERT INTO threat_events (id, agent_id, org_id, hostname, type, severity, confidence, rule_id, details, source_ip, timestamp, timestamp_ms, received_at)
    SELECT 'evt_' || lower(hex(randomblob(12))), a.id, a.org_id, a.hostname, g.type, g.severity, 0.5 + (g.i % 50) / 100.0,
      CASE WHEN g.i % 3 = 0 THEN 'rule-' || (g.i % 40) END,
      CASE WHEN g.ip IS NULL THEN '{"note":"seed"}' ELSE json_object('sourceIp', g.ip) END,
      g.ip, ${iso('g.ts')}, g.ts, ${iso('g.ts')}
    FROM (
      SELECT i, ${weighted('kind', EVENT_TYPES)} AS type, ${weighted('sev', SEVERITY_WEIGHTS)} AS severity,
        CASE WHEN i % 10 < 6 THEN '11.' || ((i % 20000) >> 8) || '.' || ((i % 20000) & 255) || '.7'
             WHEN i % 10 = 6 THEN '10.0.' || (i % 200) || '.9' END AS ip,
        @nowMs - age AS ts, agentRow
      FROM r) g
    JOIN fleet a ON a.r = g.agentRow
    ORDER BY g.ts`);
  const insertPolicies = db.prepare(`${counter('0 AS unused')}
    INSERT INTO policies (id, org_id, agent_id, version, name, description, rules, broadcasted_to, created_at)
    SELECT 'pol_' || lower(hex(randomblob(12))), CASE WHEN i % 3 = 0 THEN NULL ELSE 'acme' END, NULL,
      (SELECT coalesce(max(version), 0) FROM policies) + 1 + i, 'Seed policy ' || i, NULL,
      '[{"type":"custom","config":{"condition":"x","action":"y"},"enabled":true}]', 0, ${iso('@nowMs - 86400000 + i * 1000')}
    FROM r`);

  // Random-order index inserts over a million rows thrash the default 16 MB page cache.
  const cacheSize = db.pragma('cache_size', { simple: true }) as number;
  db.pragma('cache_size = -262144');
  const run = (name: string, work: () => void) => {
    const t0 = Date.now();
    db.transaction(work)();
    log(`  seeded ${name} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  const base = { tag, nowMs: now };
  if (options.users > 0) {
    run('users', () => insertUsers.run({ ...base, count: options.users }));
    run('sessions and TOTP', () => {
      insertSessions.run(base);
      insertTotp.run(base);
    });
  }
  if (options.audit > 0) run('audit entries', () => insertAudit.run({ ...base, count: options.audit, users: Math.max(options.users, 1) }));
  if (options.agents > 0) {
    run('agents', () => {
      insertAgents.run({ ...base, nowIso, count: options.agents, users: options.users });
      insertTags.run({ tag });
      insertRareTag.run({ tag });
    });
    run('policies', () => insertPolicies.run({ ...base, count: 200 }));
    if (options.events > 0) run('threat events', () => insertEvents.run({ ...base, count: options.events, agentCount: options.agents }));
  }
  const t0 = Date.now();
  db.transaction(() => rebuildThreatCounts(db, now))();
  log(`  counted threat windows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  db.pragma(`cache_size = ${cacheSize}`);
  const sessions = (db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n - sessionsBefore;
  return { events: options.events, agents: options.agents, users: options.users, sessions, audit: options.audit, seconds: (Date.now() - started) / 1000 };
}
