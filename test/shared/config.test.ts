import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, derivedPaths, resolveConfig } from '../../src/config.js';
import { TEST_SECRETS, tempDir } from '../helper.js';

t.test('defaults alone give the contract defaults', async (t) => {
  const config = loadConfig({ env: {} });
  t.equal(config.host, '0.0.0.0');
  t.equal(config.auth.port, 3000);
  t.equal(config.manager.port, 8443);
  t.equal(config.threatCloud.port, 8080);
  t.equal(config.manager.tls, true);
  t.equal(config.auth.rateLimit, 20);
  t.equal(config.manager.rateLimit, 60);
  t.equal(config.manager.heartbeatTimeoutMs, 120000);
  t.equal(config.manager.offlineTimeoutMs, 300000);
  t.equal(config.auth.scryptLogN, 17);
  t.equal(config.sqliteSynchronous, 'NORMAL');
  t.equal(config.sqliteMmapMiB, 1024, 'reads of the first GiB of the file go through a memory map');
  t.equal(config.trustProxy, false);
  t.equal(config.auth.ipReputationCheck, true);
  t.equal(config.auth.sessionIdleTimeoutMs, 28_800_000, '8 hours of inactivity end a session');
  t.equal(loadConfig({ env: { AUTH_SESSION_IDLE_TIMEOUT_MS: '0' } }).auth.sessionIdleTimeoutMs, 0, '0 turns the idle timeout off');
  t.equal(config.threatCloud.queryAuditDays, 30, 'read audit kept 30 days');
  t.equal(config.threatCloud.auditDays, 400, 'write audit kept 400 days');
  t.same(config.database, { poolSize: 10, statementTimeoutMs: 30_000, tls: 'verify-full' }, 'no DATABASE_URL: the SQLite file; TLS verified once one is set');
  t.same(derivedPaths(config), { databasePath: path.join('./data', 'panguard.db'), publicAuthUrl: 'http://localhost:3000' });
});

t.test('environment variables override the defaults and are parsed by type', async (t) => {
  const config = loadConfig({
    env: {
      HOST: '127.0.0.1',
      MANAGER_PORT: '9443',
      MANAGER_TLS: 'false',
      RATE_LIMIT_SCALE: '2.5',
      TRUST_PROXY: '10.0.0.1, 10.0.0.0/8',
      CORS_ALLOWED_ORIGINS: 'https://a.example,https://b.example',
      TC_API_KEYS: `${'k'.repeat(32)},${'j'.repeat(40)}`,
      TC_TIER_LIMITS: '{"enterprise":600000}',
      BILLING_VARIANT_TIERS: '{"123":"pro"}',
      SQLITE_SYNCHRONOUS: 'full',
      SQLITE_MMAP_MB: '0',
      DATA_DIR: '/tmp/x',
      TC_QUERY_AUDIT_DAYS: '7',
      TC_AUDIT_DAYS: '3650',
    },
  });
  t.equal(config.threatCloud.queryAuditDays, 7);
  t.equal(config.threatCloud.auditDays, 3650);
  t.equal(config.host, '127.0.0.1');
  t.equal(config.manager.port, 9443);
  t.equal(config.manager.tls, false);
  t.equal(config.rateLimitScale, 2.5);
  t.same(config.trustProxy, ['10.0.0.1', '10.0.0.0/8']);
  t.same(config.corsAllowedOrigins, ['https://a.example', 'https://b.example']);
  t.equal(config.threatCloud.apiKeys.length, 2);
  t.same(config.threatCloud.tierLimits, { enterprise: 600000 });
  t.same(config.auth.billing.variantTiers, { '123': 'pro' });
  t.equal(config.sqliteSynchronous, 'FULL');
  t.equal(config.sqliteMmapMiB, 0);
  t.equal(derivedPaths(config).databasePath, '/tmp/x/panguard.db');
  t.equal(loadConfig({ env: { TRUST_PROXY: 'true' } }).trustProxy, true);
});

t.test('DATABASE_* settings: a PostgreSQL URL with pool, statement timeout and TLS', async (t) => {
  const config = loadConfig({
    env: {
      DATABASE_URL: 'postgresql://panguard:pw@db.internal:5432/panguard?application_name=panguard',
      DATABASE_POOL_SIZE: '25',
      DATABASE_STATEMENT_TIMEOUT_MS: '0',
      DATABASE_TLS: 'VERIFY-FULL',
      DATABASE_TLS_CA: '/etc/panguard/db-ca.pem',
    },
  });
  t.same(config.database, {
    url: 'postgresql://panguard:pw@db.internal:5432/panguard?application_name=panguard',
    poolSize: 25,
    statementTimeoutMs: 0,
    tls: 'verify-full',
    tlsCa: '/etc/panguard/db-ca.pem',
  });
  t.equal(loadConfig({ env: { DATABASE_URL: 'postgres:///panguard?host=/run/postgresql', DATABASE_TLS: 'disable' } }).database.tls, 'disable', 'a local socket');
});

t.test('a file named by PANGUARD_CONFIG overrides defaults; the environment overrides the file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'panguard.json');
  writeFileSync(file, JSON.stringify({ auth: { port: 4000, rateLimit: 50 }, manager: { port: 4443 } }));
  const config = loadConfig({ env: { PANGUARD_CONFIG: file, MANAGER_PORT: '5443' } });
  t.equal(config.auth.port, 4000);
  t.equal(config.auth.rateLimit, 50);
  t.equal(config.auth.scryptLogN, 17, 'keys the file does not name keep their defaults');
  t.equal(config.manager.port, 5443);
});

t.test('bad values stop with one line naming the key and what is allowed', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ MANAGER_PORT: 'abc' }, 'MANAGER_PORT must be an integer 1-65535, got "abc"'],
    [{ AUTH_PORT: '70000' }, 'AUTH_PORT must be an integer 1-65535, got 70000'],
    [{ MANAGER_TLS: 'yes' }, 'MANAGER_TLS must be true or false, got "yes"'],
    [{ AUTH_SCRYPT_LOG_N: '12' }, 'AUTH_SCRYPT_LOG_N must be an integer 14-20, got 12'],
    [{ SQLITE_SYNCHRONOUS: 'OFF' }, 'SQLITE_SYNCHRONOUS must be NORMAL or FULL, got "OFF"'],
    [{ SQLITE_MMAP_MB: '2048' }, 'SQLITE_MMAP_MB must be a whole number of MiB 0-2047 (0: no memory map), got 2048'],
    [{ SQLITE_MMAP_MB: '-1' }, 'SQLITE_MMAP_MB must be a whole number of MiB 0-2047 (0: no memory map), got -1'],
    [{ SQLITE_MMAP_MB: '1g' }, 'SQLITE_MMAP_MB must be a whole number of MiB 0-2047 (0: no memory map), got "1g"'],
    [{ RATE_LIMIT_SCALE: '0' }, 'RATE_LIMIT_SCALE must be a number greater than 0, got 0'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET must be a secret of at least 32 characters, got (value hidden)'],
    [{ TC_API_KEYS: 'short-key' }, 'TC_API_KEYS must be a comma-separated list of keys of at least 32 characters, got (value hidden)'],
    [{ TOTP_ENCRYPTION_KEY: 'zz' }, 'TOTP_ENCRYPTION_KEY must be 64 hexadecimal characters (32 bytes), got (value hidden)'],
    [{ BILLING_VARIANT_TIERS: '{"1":"gold"}' }, 'BILLING_VARIANT_TIERS must be a JSON object mapping variant ids to a tier (community, solo, pro, business, enterprise), got {"1":"gold"}'],
    [{ TC_TIER_LIMITS: 'not json' }, 'TC_TIER_LIMITS must be a JSON object mapping a tier (community, solo, pro, business, enterprise) to requests per minute, got invalid JSON'],
    [{ MANAGER_HEARTBEAT_TIMEOUT_MS: '999' }, 'MANAGER_HEARTBEAT_TIMEOUT_MS must be an integer of at least 1000, got 999'],
    [{ MANAGER_HEARTBEAT_TIMEOUT_MS: '5000', MANAGER_OFFLINE_TIMEOUT_MS: '5000' }, 'MANAGER_OFFLINE_TIMEOUT_MS must be greater than MANAGER_HEARTBEAT_TIMEOUT_MS (5000), got 5000'],
    [{ AUTH_TLS_CERT: '/x.crt' }, 'AUTH_TLS_CERT and AUTH_TLS_KEY must be set together'],
    [{ AUTH_SESSION_IDLE_TIMEOUT_MS: '60000' }, 'AUTH_SESSION_IDLE_TIMEOUT_MS must be 0 (off) or an integer 300000-86400000 (5 minutes to 24 hours), got 60000'],
    [{ AUTH_SESSION_IDLE_TIMEOUT_MS: '86400001' }, 'AUTH_SESSION_IDLE_TIMEOUT_MS must be 0 (off) or an integer 300000-86400000 (5 minutes to 24 hours), got 86400001'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    [{ TC_QUERY_AUDIT_DAYS: '0' }, 'TC_QUERY_AUDIT_DAYS must be a whole number of days 1-36500, got 0'],
    [{ TC_QUERY_AUDIT_DAYS: '-5' }, 'TC_QUERY_AUDIT_DAYS must be a whole number of days 1-36500, got -5'],
    [{ TC_QUERY_AUDIT_DAYS: '1.5' }, 'TC_QUERY_AUDIT_DAYS must be a whole number of days 1-36500, got "1.5"'],
    [{ TC_AUDIT_DAYS: '0' }, 'TC_AUDIT_DAYS must be a whole number of days 1-36500, got 0'],
    [{ TC_AUDIT_DAYS: '-1' }, 'TC_AUDIT_DAYS must be a whole number of days 1-36500, got -1'],
    [{ TC_AUDIT_DAYS: '30d' }, 'TC_AUDIT_DAYS must be a whole number of days 1-36500, got "30d"'],
    [{ TC_AUDIT_DAYS: '36501' }, 'TC_AUDIT_DAYS must be a whole number of days 1-36500, got 36501'],
    // URLs may carry a password: it is masked, never echoed.
    [{ SMTP_URL: 'ftp://mailer:hunter2@mail.example' }, 'SMTP_URL must be an smtp:// or smtps:// URL, got "ftp://mailer:***@mail.example/"'],
    [{ DATABASE_URL: 'mysql://root:hunter2@db.internal/panguard' }, 'DATABASE_URL must be a postgres:// or postgresql:// URL, got "mysql://root:***@db.internal/panguard"'],
    [{ DATABASE_URL: 'postgres://root:hunter2@db.internal:5432/' }, 'DATABASE_URL must name one database (postgres://user:password@host:5432/panguard), got "postgres://root:***@db.internal:5432/"'],
    [{ DATABASE_URL: 'postgres://root:hunter2@db.internal/panguard?sslmode=require' }, 'DATABASE_URL must not carry sslmode: TLS to PostgreSQL is set by DATABASE_TLS (and DATABASE_TLS_CA)'],
    [{ DATABASE_URL: 'postgres://root:hunter2@[oops/panguard' }, 'DATABASE_URL must be a postgres:// or postgresql:// URL, got (value hidden)'],
    [{ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE must be an integer 1-1000, got 0'],
    [{ DATABASE_STATEMENT_TIMEOUT_MS: '-1' }, 'DATABASE_STATEMENT_TIMEOUT_MS must be 0 (no limit) or an integer up to 86400000, got -1'],
    [{ DATABASE_TLS: 'prefer' }, 'DATABASE_TLS must be disable, require or verify-full, got "prefer"'],
    [{ DATABASE_TLS: 'require', DATABASE_TLS_CA: '/ca.pem' }, 'DATABASE_TLS_CA is only used with DATABASE_TLS=verify-full, got DATABASE_TLS=require'],
  ];
  for (const [env, message] of cases) {
    t.throws(() => loadConfig({ env }), new ConfigError(message), JSON.stringify(env));
  }
});

t.test('retention days from a PANGUARD_CONFIG file are checked like the variables', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'panguard.json');
  writeFileSync(file, JSON.stringify({ threatCloud: { queryAuditDays: 14 } }));
  const config = loadConfig({ env: { PANGUARD_CONFIG: file } });
  t.equal(config.threatCloud.queryAuditDays, 14);
  t.equal(config.threatCloud.auditDays, 400, 'the other keeps its default');
  writeFileSync(file, JSON.stringify({ threatCloud: { auditDays: 0.5 } }));
  t.throws(() => loadConfig({ env: { PANGUARD_CONFIG: file } }), new ConfigError('TC_AUDIT_DAYS must be a whole number of days 1-36500, got 0.5'));
});

t.test('an unreadable or non-object PANGUARD_CONFIG is refused', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'array.json');
  writeFileSync(file, '[1,2]');
  t.throws(() => loadConfig({ env: { PANGUARD_CONFIG: file } }), /must hold a JSON object/);
  t.throws(() => loadConfig({ env: { PANGUARD_CONFIG: path.join(dir, 'missing.json') } }), /could not be read as JSON/);
});

t.test('prototype-polluting keys in a config file are ignored', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'evil.json');
  writeFileSync(file, '{"__proto__": {"polluted": true}, "auth": {"port": 3001}}');
  const config = loadConfig({ env: { PANGUARD_CONFIG: file } });
  t.equal(config.auth.port, 3001);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('resolveConfig fills generated secrets and derived paths', async (t) => {
  const resolved = resolveConfig(loadConfig({ env: { DATA_DIR: '/srv/pg', AUTH_PORT: '3100' } }), TEST_SECRETS);
  t.equal(resolved.databasePath, '/srv/pg/panguard.db');
  t.equal(resolved.auth.publicUrl, 'http://localhost:3100');
  t.equal(resolved.auth.jwtSecret, TEST_SECRETS.jwtSecret);
  t.equal(resolved.manager.authToken, TEST_SECRETS.managerAuthToken);
  t.equal(resolved.threatCloud.adminToken, TEST_SECRETS.tcAdminToken);
});
