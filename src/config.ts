import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { TIERS } from './shared/tiers.js';

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const OptionalText = Type.Optional(Type.String({ minLength: 1 }));
const Secret = Type.Optional(Type.String({ minLength: 32 }));
const TierName = Type.Union(TIERS.map((tier) => Type.Literal(tier)));
/** Days an audit entry is kept: at least one, at most a century. */
const RetentionDays = Type.Integer({ minimum: 1, maximum: 36_500 });

export const ConfigSchema = Type.Object({
  host: Type.String({ minLength: 1 }),
  dataDir: Type.String({ minLength: 1 }),
  databasePath: OptionalText,
  logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  trustProxy: Type.Union([Type.Boolean(), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
  corsAllowedOrigins: Type.Array(Type.String({ minLength: 1 })),
  rateLimitScale: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000 }),
  sqliteSynchronous: Type.Union([Type.Literal('NORMAL'), Type.Literal('FULL')]),
  // Up to SQLite's own maximum (MAX_MMAP_MIB in shared/db/open.ts).
  sqliteMmapMiB: Type.Integer({ minimum: 0, maximum: 2047 }),
  database: Type.Object({
    url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
    poolSize: Type.Integer({ minimum: 1, maximum: 1000 }),
    // 0 = no limit; otherwise up to a day.
    statementTimeoutMs: Type.Integer({ minimum: 0, maximum: 86_400_000 }),
    tls: Type.Union([Type.Literal('disable'), Type.Literal('require'), Type.Literal('verify-full')]),
    tlsCa: OptionalText,
  }),
  metrics: Type.Object({ enabled: Type.Boolean(), token: OptionalText }),
  // Several replicas share their rate limits here; unset, each process counts its own.
  redis: Type.Object({ url: Type.Optional(Type.String({ pattern: '^rediss?://' })) }),
  auth: Type.Object({
    port: Port,
    tlsCert: OptionalText,
    tlsKey: OptionalText,
    rateLimit: Type.Integer({ minimum: 1 }),
    jwtSecret: Secret,
    totpEncryptionKey: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })),
    scryptLogN: Type.Integer({ minimum: 14, maximum: 20 }),
    publicUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
    smtpUrl: Type.Optional(Type.String({ pattern: '^smtps?://' })),
    mailFrom: OptionalText,
    ipReputationCheck: Type.Boolean(),
    // 0 turns it off; otherwise 5 min to 24 h (sessions end 24 h after login anyway).
    sessionIdleTimeoutMs: Type.Union([Type.Literal(0), Type.Integer({ minimum: 300_000, maximum: 86_400_000 })]),
    billing: Type.Object({
      checkoutUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
      portalUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
      webhookSecret: OptionalText,
      variantTiers: Type.Record(Type.String(), TierName),
    }),
  }),
  manager: Type.Object({
    port: Port,
    tls: Type.Boolean(),
    tlsCert: Type.String({ minLength: 1 }),
    tlsKey: Type.String({ minLength: 1 }),
    authToken: Secret,
    enrollToken: Secret,
    rateLimit: Type.Integer({ minimum: 1 }),
    heartbeatTimeoutMs: Type.Integer({ minimum: 1000 }),
    offlineTimeoutMs: Type.Integer({ minimum: 1001 }),
  }),
  threatCloud: Type.Object({
    port: Port,
    tlsCert: OptionalText,
    tlsKey: OptionalText,
    apiKeys: Type.Array(Type.String({ minLength: 32 })),
    tierLimits: Type.Partial(Type.Record(TierName, Type.Integer({ minimum: 1 }))),
    adminToken: Secret,
    queryAuditDays: RetentionDays,
    auditDays: RetentionDays,
  }),
});
export type Config = Static<typeof ConfigSchema>;

/** The configuration once generated secrets are filled in: every service can rely on them. */
export type ResolvedConfig = Config & {
  databasePath: string;
  auth: Config['auth'] & { jwtSecret: string; totpEncryptionKey: string; publicUrl: string };
  manager: Config['manager'] & { authToken: string };
  threatCloud: Config['threatCloud'] & { adminToken: string };
};

type EnvKind = 'string' | 'int' | 'number' | 'bool' | 'list' | 'json' | 'trustProxy' | 'upper' | 'lower';
interface Setting {
  env: string;
  path: string;
  kind: EnvKind;
  /** How the allowed values are described in the start-up error. */
  allowed: string;
  /** A URL that may carry a password: errors show it with the password masked. */
  credentials?: true;
}

/** Every environment variable of the contract, where it lands in the config and what it accepts. */
export const SETTINGS: readonly Setting[] = [
  { env: 'HOST', path: 'host', kind: 'string', allowed: 'a host name or address' },
  { env: 'DATA_DIR', path: 'dataDir', kind: 'string', allowed: 'a folder path' },
  { env: 'DATABASE_PATH', path: 'databasePath', kind: 'string', allowed: 'a file path' },
  { env: 'LOG_LEVEL', path: 'logLevel', kind: 'string', allowed: 'one of fatal, error, warn, info, debug, trace, silent' },
  { env: 'TRUST_PROXY', path: 'trustProxy', kind: 'trustProxy', allowed: 'true, false or a comma-separated list of addresses/CIDRs' },
  { env: 'CORS_ALLOWED_ORIGINS', path: 'corsAllowedOrigins', kind: 'list', allowed: 'a comma-separated list of origins, or *' },
  { env: 'RATE_LIMIT_SCALE', path: 'rateLimitScale', kind: 'number', allowed: 'a number greater than 0' },
  { env: 'SQLITE_SYNCHRONOUS', path: 'sqliteSynchronous', kind: 'upper', allowed: 'NORMAL or FULL' },
  { env: 'SQLITE_MMAP_MB', path: 'sqliteMmapMiB', kind: 'int', allowed: 'a whole number of MiB 0-2047 (0: no memory map)' },
  { env: 'DATABASE_URL', path: 'database.url', kind: 'string', allowed: 'a postgres:// or postgresql:// URL', credentials: true },
  { env: 'DATABASE_POOL_SIZE', path: 'database.poolSize', kind: 'int', allowed: 'an integer 1-1000' },
  { env: 'DATABASE_STATEMENT_TIMEOUT_MS', path: 'database.statementTimeoutMs', kind: 'int', allowed: '0 (no limit) or an integer up to 86400000' },
  { env: 'DATABASE_TLS', path: 'database.tls', kind: 'lower', allowed: 'disable, require or verify-full' },
  { env: 'DATABASE_TLS_CA', path: 'database.tlsCa', kind: 'string', allowed: 'a file path' },
  { env: 'REDIS_URL', path: 'redis.url', kind: 'string', allowed: 'a redis:// or rediss:// URL', credentials: true },
  { env: 'METRICS_ENABLED', path: 'metrics.enabled', kind: 'bool', allowed: 'true or false' },
  { env: 'METRICS_TOKEN', path: 'metrics.token', kind: 'string', allowed: 'a non-empty token' },
  { env: 'AUTH_PORT', path: 'auth.port', kind: 'int', allowed: 'an integer 1-65535' },
  { env: 'AUTH_TLS_CERT', path: 'auth.tlsCert', kind: 'string', allowed: 'a file path' },
  { env: 'AUTH_TLS_KEY', path: 'auth.tlsKey', kind: 'string', allowed: 'a file path' },
  { env: 'AUTH_RATE_LIMIT', path: 'auth.rateLimit', kind: 'int', allowed: 'an integer of at least 1' },
  { env: 'JWT_SECRET', path: 'auth.jwtSecret', kind: 'string', allowed: 'a secret of at least 32 characters' },
  { env: 'TOTP_ENCRYPTION_KEY', path: 'auth.totpEncryptionKey', kind: 'string', allowed: '64 hexadecimal characters (32 bytes)' },
  { env: 'AUTH_SCRYPT_LOG_N', path: 'auth.scryptLogN', kind: 'int', allowed: 'an integer 14-20' },
  { env: 'PUBLIC_AUTH_URL', path: 'auth.publicUrl', kind: 'string', allowed: 'an http(s) URL' },
  { env: 'SMTP_URL', path: 'auth.smtpUrl', kind: 'string', allowed: 'an smtp:// or smtps:// URL', credentials: true },
  { env: 'MAIL_FROM', path: 'auth.mailFrom', kind: 'string', allowed: 'an e-mail address' },
  { env: 'AUTH_IP_REPUTATION_CHECK', path: 'auth.ipReputationCheck', kind: 'bool', allowed: 'true or false' },
  { env: 'AUTH_SESSION_IDLE_TIMEOUT_MS', path: 'auth.sessionIdleTimeoutMs', kind: 'int', allowed: '0 (off) or an integer 300000-86400000 (5 minutes to 24 hours)' },
  { env: 'BILLING_CHECKOUT_URL', path: 'auth.billing.checkoutUrl', kind: 'string', allowed: 'an http(s) URL template' },
  { env: 'BILLING_PORTAL_URL', path: 'auth.billing.portalUrl', kind: 'string', allowed: 'an http(s) URL template' },
  { env: 'BILLING_WEBHOOK_SECRET', path: 'auth.billing.webhookSecret', kind: 'string', allowed: 'a non-empty secret' },
  { env: 'BILLING_VARIANT_TIERS', path: 'auth.billing.variantTiers', kind: 'json', allowed: `a JSON object mapping variant ids to a tier (${TIERS.join(', ')})` },
  { env: 'MANAGER_PORT', path: 'manager.port', kind: 'int', allowed: 'an integer 1-65535' },
  { env: 'MANAGER_TLS', path: 'manager.tls', kind: 'bool', allowed: 'true or false' },
  { env: 'MANAGER_TLS_CERT', path: 'manager.tlsCert', kind: 'string', allowed: 'a file path' },
  { env: 'MANAGER_TLS_KEY', path: 'manager.tlsKey', kind: 'string', allowed: 'a file path' },
  { env: 'MANAGER_AUTH_TOKEN', path: 'manager.authToken', kind: 'string', allowed: 'a token of at least 32 characters' },
  { env: 'MANAGER_ENROLL_TOKEN', path: 'manager.enrollToken', kind: 'string', allowed: 'a token of at least 32 characters' },
  { env: 'MANAGER_RATE_LIMIT', path: 'manager.rateLimit', kind: 'int', allowed: 'an integer of at least 1' },
  { env: 'MANAGER_HEARTBEAT_TIMEOUT_MS', path: 'manager.heartbeatTimeoutMs', kind: 'int', allowed: 'an integer of at least 1000' },
  { env: 'MANAGER_OFFLINE_TIMEOUT_MS', path: 'manager.offlineTimeoutMs', kind: 'int', allowed: 'an integer greater than MANAGER_HEARTBEAT_TIMEOUT_MS' },
  { env: 'TC_PORT', path: 'threatCloud.port', kind: 'int', allowed: 'an integer 1-65535' },
  { env: 'TC_TLS_CERT', path: 'threatCloud.tlsCert', kind: 'string', allowed: 'a file path' },
  { env: 'TC_TLS_KEY', path: 'threatCloud.tlsKey', kind: 'string', allowed: 'a file path' },
  { env: 'TC_API_KEYS', path: 'threatCloud.apiKeys', kind: 'list', allowed: 'a comma-separated list of keys of at least 32 characters' },
  { env: 'TC_TIER_LIMITS', path: 'threatCloud.tierLimits', kind: 'json', allowed: `a JSON object mapping a tier (${TIERS.join(', ')}) to requests per minute` },
  { env: 'TC_ADMIN_TOKEN', path: 'threatCloud.adminToken', kind: 'string', allowed: 'a token of at least 32 characters' },
  { env: 'TC_QUERY_AUDIT_DAYS', path: 'threatCloud.queryAuditDays', kind: 'int', allowed: 'a whole number of days 1-36500' },
  { env: 'TC_AUDIT_DAYS', path: 'threatCloud.auditDays', kind: 'int', allowed: 'a whole number of days 1-36500' },
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const DEFAULTS_FILE = fileURLToPath(new URL('../config/default.json', import.meta.url));

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Defaults file; the repository's config/default.json unless a test names another. */
  defaultsFile?: string;
}

/** defaults ← file named by PANGUARD_CONFIG ← environment; throws ConfigError naming the bad key. */
export function loadConfig({ env = process.env, defaultsFile = DEFAULTS_FILE }: ConfigSources = {}): Config {
  const merged = readJsonObject(defaultsFile, 'config/default.json');
  if (env.PANGUARD_CONFIG) deepMerge(merged, readJsonObject(env.PANGUARD_CONFIG, 'PANGUARD_CONFIG'));
  for (const setting of SETTINGS) {
    const raw = env[setting.env];
    if (raw === undefined || raw === '') continue;
    setPath(merged, setting.path, parseEnv(setting, raw));
  }
  const firstError = Value.Errors(ConfigSchema, merged).First();
  if (firstError) throw new ConfigError(describeError(firstError.path, merged));
  const config = merged as Config;
  if (config.manager.offlineTimeoutMs <= config.manager.heartbeatTimeoutMs) {
    throw new ConfigError(
      `MANAGER_OFFLINE_TIMEOUT_MS must be greater than MANAGER_HEARTBEAT_TIMEOUT_MS (${config.manager.heartbeatTimeoutMs}), got ${config.manager.offlineTimeoutMs}`,
    );
  }
  for (const [service, tls] of [['AUTH', config.auth], ['TC', config.threatCloud]] as const) {
    if (Boolean(tls.tlsCert) !== Boolean(tls.tlsKey)) {
      throw new ConfigError(`${service}_TLS_CERT and ${service}_TLS_KEY must be set together`);
    }
  }
  if (config.database.url !== undefined) checkDatabaseUrl(config.database.url, 'DATABASE_URL');
  if (config.database.tlsCa !== undefined && config.database.tls !== 'verify-full') {
    throw new ConfigError(`DATABASE_TLS_CA is only used with DATABASE_TLS=verify-full, got DATABASE_TLS=${config.database.tls}`);
  }
  return config;
}

/**
 * TLS is chosen by DATABASE_TLS alone: node-postgres would let `sslmode` and friends in the URL
 * override it (and read `sslmode=require` as verify-full), so two settings could disagree.
 */
const TLS_URL_PARAMETERS = ['ssl', 'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'sslpassword', 'sslcrl', 'sslnegotiation'];

/** Refuses a PostgreSQL URL that names no database or host, or sets TLS itself; `label` names where it came from. */
export function checkDatabaseUrl(url: string, label: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${label} must be a postgres:// or postgresql:// URL, got ${maskedUrl(url)}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigError(`${label} must be a postgres:// or postgresql:// URL, got ${maskedUrl(url)}`);
  }
  let database: string;
  try {
    database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  } catch {
    throw new ConfigError(`${label} must be a postgres:// or postgresql:// URL, got ${maskedUrl(url)}`);
  }
  if (database === '' || database.includes('/')) {
    throw new ConfigError(`${label} must name one database (postgres://user:password@host:5432/panguard), got ${maskedUrl(url)}`);
  }
  if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
    throw new ConfigError(`${label} must name a host (or ?host=/path/of/socket/folder), got ${maskedUrl(url)}`);
  }
  const tlsParameters = TLS_URL_PARAMETERS.filter((name) => parsed.searchParams.has(name));
  if (tlsParameters.length > 0) {
    throw new ConfigError(`${label} must not carry ${tlsParameters.join(', ')}: TLS to PostgreSQL is set by DATABASE_TLS (and DATABASE_TLS_CA)`);
  }
}

/** The URL as a terminal or a log may show it: any password replaced, or nothing when it does not parse. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return '(value hidden)';
  }
}

/** The same, quoted as a configuration error shows values. */
function maskedUrl(url: string): string {
  const shown = withoutPassword(url);
  return shown === '(value hidden)' ? shown : JSON.stringify(shown);
}

function parseEnv(setting: Setting, raw: string): unknown {
  const text = raw.trim();
  switch (setting.kind) {
    case 'int':
      return /^-?\d+$/.test(text) ? Number(text) : raw;
    case 'number':
      return text !== '' && Number.isFinite(Number(text)) ? Number(text) : raw;
    case 'bool':
      return text === 'true' ? true : text === 'false' ? false : raw;
    case 'upper':
      return text.toUpperCase();
    case 'lower':
      return text.toLowerCase();
    case 'list':
      return text.split(',').map((item) => item.trim()).filter((item) => item !== '');
    case 'trustProxy':
      if (text === 'true' || text === 'false') return text === 'true';
      return text.split(',').map((item) => item.trim()).filter((item) => item !== '');
    case 'json':
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new ConfigError(`${setting.env} must be ${setting.allowed}, got invalid JSON`);
      }
    default:
      return raw;
  }
}

function describeError(errorPath: string, merged: Record<string, unknown>): string {
  const dotted = errorPath.split('/').filter(Boolean).join('.');
  const setting =
    SETTINGS.find((s) => s.path === dotted) ?? SETTINGS.find((s) => dotted.startsWith(`${s.path}.`));
  if (!setting) return `configuration key ${dotted || '(root)'} is invalid`;
  const secret = /SECRET|TOKEN|KEY$|KEYS$/.test(setting.env) && !setting.env.endsWith('_TLS_KEY');
  const got = getPath(merged, setting.path);
  const shown = secret ? '(value hidden)' : setting.credentials && typeof got === 'string' ? maskedUrl(got) : JSON.stringify(got);
  return `${setting.env} must be ${setting.allowed}, got ${shown}`;
}

function readJsonObject(file: string, label: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${label} (${file}) could not be read as JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new ConfigError(`${label} (${file}) must hold a JSON object`);
  return parsed;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    const current = target[key];
    if (isPlainObject(current) && isPlainObject(value)) deepMerge(current, value);
    else target[key] = value;
  }
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function getPath(target: Record<string, unknown>, dotted: string): unknown {
  let node: unknown = target;
  for (const key of dotted.split('.')) node = isPlainObject(node) ? node[key] : undefined;
  return node;
}

/** Paths that depend on other settings, resolved once the data folder is known. */
export function derivedPaths(config: Config): { databasePath: string; publicAuthUrl: string } {
  return {
    databasePath: config.databasePath ?? path.join(config.dataDir, 'panguard.db'),
    publicAuthUrl: config.auth.publicUrl ?? `http://localhost:${config.auth.port}`,
  };
}

/** The configuration with generated secrets and derived paths filled in. */
export function resolveConfig(
  config: Config,
  secrets: { jwtSecret: string; managerAuthToken: string; tcAdminToken: string; totpEncryptionKey: string },
): ResolvedConfig {
  const { databasePath, publicAuthUrl } = derivedPaths(config);
  return {
    ...config,
    databasePath,
    auth: { ...config.auth, jwtSecret: secrets.jwtSecret, totpEncryptionKey: secrets.totpEncryptionKey, publicUrl: publicAuthUrl },
    manager: { ...config.manager, authToken: secrets.managerAuthToken },
    threatCloud: { ...config.threatCloud, adminToken: secrets.tcAdminToken },
  };
}
