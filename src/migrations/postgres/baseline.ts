import type { PostgresMigration } from '../../shared/db/migrate-postgres.js';

/**
 * The PostgreSQL schema equal to SQLite's at version 14 (src/migrations/001…014), in one step:
 * a PostgreSQL database starts here, and later versions append to the list in ./index.ts
 * with the same numbers on both engines.
 *
 * Translated, not redesigned: the same tables, columns, constraints, indexes, seeded rows
 * and trigger-kept counters, so the stores' SQL finds what it finds on SQLite. Where the
 * dialects differ:
 * - INTEGER is bigint (millisecond times and counts exceed int4), REAL double precision.
 * - `rowid`: PostgreSQL has no implicit row number, so each table whose rows the stores
 *   address or page by SQLite's rowid (cursors, batched deletes, refresh ranges) gets an
 *   identity column of that name, unique and indexed, in insertion order as on SQLite.
 * - INTEGER PRIMARY KEY columns (which SQLite numbers itself) are identity columns that
 *   still accept an explicit value, as SQLite does.
 * - `COLLATE NOCASE` folds ASCII letters only; so does `ascii_lower`, which the hostname,
 *   e-mail and name indexes use (lower() would also fold other letters under C.UTF-8).
 * - A primary key cannot be ordered in PostgreSQL: `ioc_source_rank`'s ordered key is a
 *   unique index with the same columns and order.
 * - Triggers are PL/pgSQL functions with the same statements; SQLite's `IS NOT` is
 *   `IS DISTINCT FROM`, and conditions that read other tables (not allowed in a
 *   PostgreSQL trigger's WHEN) moved into the function body.
 */

/** Triggers PostgreSQL needs beyond SQLite's, to keep the same counts (see each one). */
export const POSTGRES_ONLY_TRIGGERS: readonly string[] = ['tc_list_ioc_delete'];

/** The names of the tables that carry a `rowid` identity column, in place of SQLite's implicit rowid. */
export const ROWID_TABLES: readonly string[] = ['users', 'agents', 'iocs', 'sightings', 'tc_audit_log', 'sessions', 'outbox', 'audit_log', 'known_addresses'];

/** SQLite's NOCASE and upper(): ASCII letters only, whatever the database's character type. */
const FUNCTIONS: readonly string[] = [
  `CREATE FUNCTION ascii_lower(value text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN translate(value, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')`,
  `CREATE FUNCTION ascii_upper(value text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN translate(value, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')`,
  // What SQLite's json_each(CASE WHEN json_valid(doc) THEN doc ELSE '{}' END, '$.<key>') yields
  // and the view keeps (type 'text'): the strings of an array or object at the key, or the
  // string itself; nothing for text that is not JSON, as json_valid turns it into '{}'.
  `CREATE FUNCTION json_strings_at(doc text, key text) RETURNS SETOF text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  found json;
BEGIN
  BEGIN
    found := doc::json;
    IF json_typeof(found) <> 'object' THEN RETURN; END IF;
    found := found -> key;
    IF found IS NULL THEN RETURN; END IF;
    CASE json_typeof(found)
      WHEN 'array' THEN RETURN QUERY SELECT e #>> '{}' FROM json_array_elements(found) e WHERE json_typeof(e) = 'string';
      WHEN 'object' THEN RETURN QUERY SELECT e.value #>> '{}' FROM json_each(found) e WHERE json_typeof(e.value) = 'string';
      WHEN 'string' THEN RETURN NEXT found #>> '{}';
      ELSE RETURN;
    END CASE;
  EXCEPTION WHEN invalid_text_representation OR untranslatable_character THEN
    RETURN;
  END;
END
$fn$`,
];

const TABLES: readonly string[] = [
  `CREATE TABLE users (
  id             text PRIMARY KEY,
  email          text NOT NULL UNIQUE,
  name           text NOT NULL,
  password_hash  text NOT NULL,
  role           text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  tier           text NOT NULL DEFAULT 'community'
                 CHECK (tier IN ('community', 'solo', 'pro', 'business', 'enterprise')),
  suspended      bigint NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
  plan_expires_at text,
  created_at     text NOT NULL,
  updated_at     text NOT NULL,
  last_login_at  text,
  rowid          bigint GENERATED ALWAYS AS IDENTITY
)`,
  `CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  key_hash      text NOT NULL UNIQUE,
  prefix        text NOT NULL,
  masked        text NOT NULL,
  origin        text NOT NULL CHECK (origin IN ('user', 'operator', 'bootstrap')),
  owner_user_id text REFERENCES users (id) ON DELETE CASCADE,
  tier          text CHECK (tier IS NULL OR tier IN ('community', 'solo', 'pro', 'business', 'enterprise')),
  scopes        text NOT NULL,
  created_at    text NOT NULL,
  revoked_at    text,
  CHECK ((origin = 'user') = (owner_user_id IS NOT NULL)),
  CHECK (origin = 'user' OR tier IS NOT NULL)
)`,
  `CREATE TABLE usage_counters (
  user_id  text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  resource text NOT NULL,
  period   text NOT NULL,
  count    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, resource, period)
)`,
  `CREATE TABLE agents (
  id               text PRIMARY KEY,
  org_id           text NOT NULL DEFAULT 'default',
  hostname         text NOT NULL,
  os               text NOT NULL,
  version          text NOT NULL,
  ip               text NOT NULL,
  tags             text NOT NULL DEFAULT '[]',
  token_hash       text NOT NULL UNIQUE,
  status           text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'stale', 'offline')),
  status_changed_at text NOT NULL,
  last_heartbeat_ms bigint NOT NULL,
  cpu              double precision,
  memory           double precision,
  uptime           double precision,
  policy_version   text,
  registered_at    text NOT NULL,
  rowid          bigint GENERATED ALWAYS AS IDENTITY,
  UNIQUE (org_id, hostname)
)`,
  `CREATE TABLE agent_tags (
  agent_id text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  tag      text NOT NULL,
  PRIMARY KEY (agent_id, tag)
)`,
  `CREATE TABLE threat_events (
  seq          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  agent_id     text NOT NULL,
  org_id       text NOT NULL,
  hostname     text NOT NULL,
  type         text NOT NULL,
  severity     text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  confidence   double precision,
  rule_id      text,
  details      text NOT NULL,
  source_ip    text,
  timestamp    text NOT NULL,
  timestamp_ms bigint NOT NULL,
  received_at  text NOT NULL
)`,
  `CREATE TABLE policies (
  id             text PRIMARY KEY,
  org_id         text,
  agent_id       text,
  version        bigint NOT NULL UNIQUE,
  name           text NOT NULL,
  description    text,
  rules          text NOT NULL,
  broadcasted_to bigint NOT NULL DEFAULT 0,
  created_at     text NOT NULL,
  removed_at     text
)`,
  `CREATE TABLE stream_events (
  id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  event      text NOT NULL,
  data       text NOT NULL,
  created_at text NOT NULL
)`,
  `CREATE TABLE tc_state (
  name       text PRIMARY KEY,
  value      bigint NOT NULL,
  updated_at text
)`,
  `CREATE TABLE iocs (
  id          text PRIMARY KEY,
  type        text NOT NULL CHECK (type IN ('ip', 'domain', 'hash', 'url', 'email', 'cve')),
  value       text NOT NULL,
  reputation  bigint NOT NULL CHECK (reputation BETWEEN 0 AND 100),
  status      text NOT NULL CHECK (status IN ('active', 'expired', 'whitelisted', 'revoked')),
  category    text CHECK (category IS NULL OR category IN ('malware', 'botnet', 'phishing', 'bruteforce', 'scanner', 'exploit', 'c2')),
  severity    text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  confidence  double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  sightings   bigint NOT NULL DEFAULT 1,
  reporters   bigint NOT NULL DEFAULT 1,
  trap        bigint NOT NULL DEFAULT 0 CHECK (trap IN (0, 1)),
  source      text NOT NULL,
  sources     text NOT NULL DEFAULT '[]',
  metadata    text NOT NULL DEFAULT '{}',
  country     text,
  first_seen  text NOT NULL,
  last_seen   text NOT NULL,
  updated_at  text NOT NULL,
  change_seq  bigint NOT NULL,
  stix_lineage text NOT NULL DEFAULT '[]',
  rowid          bigint GENERATED ALWAYS AS IDENTITY,
  UNIQUE (type, value)
)`,
  `CREATE TABLE ioc_counts (
  type     text NOT NULL,
  category text NOT NULL,
  status   text NOT NULL,
  n        bigint NOT NULL,
  PRIMARY KEY (type, category, status)
)`,
  `CREATE TABLE ioc_reporters (
  ioc_id      text NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
  reporter_id text NOT NULL,
  first_seen  text NOT NULL,
  PRIMARY KEY (ioc_id, reporter_id)
)`,
  `CREATE TABLE sightings (
  id          text PRIMARY KEY,
  ioc_id      text NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('upload', 'sighting', 'trap')),
  source      text NOT NULL,
  reporter_id text NOT NULL,
  context     text,
  created_at  text NOT NULL,
  rowid          bigint GENERATED ALWAYS AS IDENTITY
)`,
  `CREATE TABLE ioc_sources (
  source text NOT NULL,
  ioc_id text NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
  PRIMARY KEY (source, ioc_id)
)`,
  `CREATE TABLE tc_sources (
  source     text PRIMARY KEY,
  first_seen text NOT NULL
)`,
  `CREATE TABLE ioc_relations (
  from_id    text NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
  to_id      text NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
  relation   text NOT NULL CHECK (relation IN ('dropped', 'contacted')),
  created_at text NOT NULL,
  PRIMARY KEY (from_id, to_id, relation)
)`,
  `CREATE TABLE trap_events (
  id             text PRIMARY KEY,
  trap_id        text NOT NULL,
  honeypot_type  text NOT NULL CHECK (honeypot_type IN ('ssh', 'http', 'ftp', 'smtp', 'custom')),
  attacker_ioc_id text NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
  interactions   bigint NOT NULL,
  credentials    bigint NOT NULL,
  payloads       bigint NOT NULL,
  reporter_id    text NOT NULL,
  created_at     text NOT NULL
)`,
  `CREATE TABLE trap_credentials (
  trap_id       text NOT NULL,
  username_hash text NOT NULL,
  attempts      bigint NOT NULL,
  last_seen     text NOT NULL,
  PRIMARY KEY (trap_id, username_hash)
)`,
  `CREATE TABLE tc_rules (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  content    text NOT NULL,
  created_at text NOT NULL,
  updated_at text NOT NULL,
  deleted_at text,
  change_seq bigint NOT NULL
)`,
  `CREATE TABLE tc_audit_log (
  id         text PRIMARY KEY,
  action     text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'query')),
  resource   text NOT NULL,
  details    text NOT NULL DEFAULT '{}',
  api_key    text,
  ip         text,
  created_at text NOT NULL,
  rowid          bigint GENERATED ALWAYS AS IDENTITY
)`,
  `CREATE TABLE sessions (
  id           text PRIMARY KEY,
  user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   text NOT NULL,
  expires_at   text NOT NULL,
  last_used_at text NOT NULL,
  ip           text,
  user_agent   text,
  rowid          bigint GENERATED ALWAYS AS IDENTITY
)`,
  `CREATE TABLE totp_secrets (
  user_id          text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  secret_encrypted text NOT NULL,
  enabled          bigint NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
  last_used_step   bigint,
  created_at       text NOT NULL,
  enabled_at       text
)`,
  `CREATE TABLE totp_backup_codes (
  id        bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  used_at   text
)`,
  `CREATE TABLE password_reset_tokens (
  token_hash text PRIMARY KEY,
  user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at text NOT NULL,
  expires_at text NOT NULL,
  used_at    text
)`,
  `CREATE TABLE outbox (
  id           text PRIMARY KEY,
  user_id      text REFERENCES users (id) ON DELETE CASCADE,
  recipient    text NOT NULL,
  subject      text NOT NULL,
  body         text NOT NULL,
  status       text NOT NULL CHECK (status IN ('stored', 'pending', 'sent', 'failed')),
  attempts     bigint NOT NULL DEFAULT 0,
  last_error   text,
  created_at   text NOT NULL,
  expires_at   text NOT NULL,
  sent_at      text,
  rowid          bigint GENERATED ALWAYS AS IDENTITY
)`,
  `CREATE TABLE subscriptions (
  user_id                  text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  provider_subscription_id text UNIQUE,
  variant_id               text,
  status                   text NOT NULL,
  renews_at                text,
  ends_at                  text,
  last_event_at            text,
  updated_at               text NOT NULL
)`,
  `CREATE TABLE billing_webhook_deliveries (
  delivery_id text PRIMARY KEY,
  event_name  text NOT NULL,
  received_at text NOT NULL
)`,
  `CREATE TABLE audit_log (
  id         text PRIMARY KEY,
  action     text NOT NULL,
  actor_id   text,
  target_id  text,
  ip         text,
  details    text NOT NULL DEFAULT '{}',
  created_at text NOT NULL,
  rowid          bigint GENERATED ALWAYS AS IDENTITY
)`,
  `CREATE TABLE auth_failures (
  key          text PRIMARY KEY,
  count        bigint NOT NULL,
  window_ends  bigint NOT NULL
)`,
  `CREATE TABLE campaigns (
  id            text PRIMARY KEY,
  name          text NOT NULL DEFAULT '',
  description   text NOT NULL DEFAULT '',
  severity      text NOT NULL DEFAULT 'low' CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  first_seen    text NOT NULL,
  last_activity text NOT NULL,
  ioc_count     bigint NOT NULL DEFAULT 0,
  affected_orgs bigint NOT NULL DEFAULT 0,
  mitre_ids     text NOT NULL DEFAULT '[]',
  tags          text NOT NULL DEFAULT '[]',
  created_at    text NOT NULL,
  formed_at     text,
  updated_at    text NOT NULL
)`,
  `CREATE TABLE campaign_iocs (
  ioc_id      text PRIMARY KEY REFERENCES iocs (id) ON DELETE CASCADE,
  campaign_id text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  added_at    text NOT NULL
)`,
  `CREATE TABLE campaign_events (
  seq         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  campaign_id text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  at          text NOT NULL,
  event       text NOT NULL,
  details     text NOT NULL
)`,
  `CREATE TABLE campaign_techniques (
  campaign_id  text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  technique_id text NOT NULL,
  PRIMARY KEY (campaign_id, technique_id)
)`,
  `CREATE TABLE ioc_netblocks (
  ioc_id text PRIMARY KEY REFERENCES iocs (id) ON DELETE CASCADE,
  block  text NOT NULL
)`,
  `CREATE TABLE ioc_techniques (
  ioc_id       text NOT NULL REFERENCES iocs (id) ON DELETE CASCADE,
  technique_id text NOT NULL,
  last_seen    text NOT NULL,
  PRIMARY KEY (ioc_id, technique_id)
)`,
  `CREATE TABLE intel_state (
  name  text PRIMARY KEY,
  value bigint NOT NULL
)`,
  `CREATE TABLE intel_hourly (
  hour      text NOT NULL,
  type      text NOT NULL,
  category  text NOT NULL,
  new_iocs  bigint NOT NULL DEFAULT 0,
  sightings bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, type, category)
)`,
  `CREATE TABLE enroll_tokens (
  id              text PRIMARY KEY,
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name            text NOT NULL,
  token_hash      text NOT NULL UNIQUE,
  prefix          text NOT NULL,
  created_at      text NOT NULL,
  expires_at      text NOT NULL,
  revoked_at      text,
  last_used_at    text,
  agents_enrolled bigint NOT NULL DEFAULT 0 CHECK (agents_enrolled >= 0)
)`,
  `CREATE TABLE known_addresses (
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  ip              text NOT NULL,
  last_success_at text NOT NULL,
  rowid          bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (user_id, ip)
)`,
  `CREATE TABLE ioc_rank_counts (
  type       text NOT NULL,
  category   text NOT NULL,
  status     text NOT NULL,
  reputation bigint NOT NULL,
  n          bigint NOT NULL,
  PRIMARY KEY (type, category, status, reputation)
)`,
  `CREATE TABLE ioc_source_rank (
  source     text NOT NULL,
  reputation bigint NOT NULL,
  last_seen  text NOT NULL,
  change_seq bigint NOT NULL,
  type       text NOT NULL,
  category   text,
  status     text NOT NULL,
  updated_at text NOT NULL,
  value      text NOT NULL
)`,
  `CREATE TABLE ioc_source_counts (
  source     text NOT NULL,
  type       text NOT NULL,
  category   text NOT NULL,
  status     text NOT NULL,
  reputation bigint NOT NULL,
  n          bigint NOT NULL,
  PRIMARY KEY (source, type, category, status, reputation)
)`,
  `CREATE TABLE tc_report_hours (
  hour     text NOT NULL,
  category text NOT NULL,
  n        bigint NOT NULL,
  PRIMARY KEY (hour, category)
)`,
  `CREATE TABLE tc_list_totals (
  name text PRIMARY KEY,
  n    bigint NOT NULL
)`,
  `CREATE TABLE tc_audit_hours (
  action text NOT NULL,
  hour   text NOT NULL,
  n      bigint NOT NULL,
  PRIMARY KEY (action, hour)
)`,
  `CREATE TABLE campaign_reporters (
  reporter_id text PRIMARY KEY,
  n           bigint NOT NULL
)`,
  `CREATE TABLE campaign_technique_counts (
  technique_id text PRIMARY KEY,
  n            bigint NOT NULL
)`,
  `CREATE TABLE threat_counted (seq bigint NOT NULL)`,
  `CREATE TABLE threat_windows (
  name      text PRIMARY KEY,
  start_ms  bigint NOT NULL,
  start_seq bigint NOT NULL
)`,
  `CREATE TABLE threat_counts (
  win   text NOT NULL,
  kind  text NOT NULL CHECK (kind IN ('severity', 'type', 'agent', 'ip')),
  scope text NOT NULL,
  key   text NOT NULL,
  n     bigint NOT NULL,
  label text,
  PRIMARY KEY (win, kind, scope, key)
)`,
  `CREATE TABLE fleet_counts (
  kind text NOT NULL CHECK (kind IN ('os', 'org', 'policies')),
  key  text NOT NULL,
  n    bigint NOT NULL,
  PRIMARY KEY (kind, key)
)`,
  `CREATE TABLE user_counts (
  role text NOT NULL,
  tier text NOT NULL,
  n    bigint NOT NULL,
  PRIMARY KEY (role, tier)
)`,
  `CREATE TABLE user_signups (
  day text PRIMARY KEY,
  n   bigint NOT NULL
)`,
  `CREATE TABLE auth_counts (
  kind text NOT NULL CHECK (kind IN ('totp', 'audit', 'audit_action', 'audit_actor')),
  key  text NOT NULL,
  n    bigint NOT NULL,
  PRIMARY KEY (kind, key)
)`,
  `CREATE TABLE api_key_generation (
  id bigint PRIMARY KEY CHECK (id = 1),
  n  bigint NOT NULL
)`,
  `CREATE TABLE threat_buckets (
  scope     text NOT NULL,
  bucket_ms bigint NOT NULL,
  low       bigint NOT NULL,
  medium    bigint NOT NULL,
  high      bigint NOT NULL,
  critical  bigint NOT NULL,
  PRIMARY KEY (scope, bucket_ms)
)`
];

/** Rows the SQLite migrations insert: the state and total rows the stores only ever update. */
const SEEDED: readonly string[] = [
  `INSERT INTO tc_state (name, value, updated_at) VALUES ('seq', 0, NULL), ('refresh', 0, NULL)`,
  `INSERT INTO intel_state (name, value) VALUES ('correlated_sighting', 0)`,
  `INSERT INTO tc_list_totals (name, n) VALUES ('campaign_iocs', 0), ('reports', 0), ('sources', 0)`,
  `INSERT INTO threat_counted (seq) VALUES (0)`,
  // Each moving window starts its span before now (manager/stores/threat-windows.ts); `all` before any event.
  `INSERT INTO threat_windows (name, start_ms, start_seq)
  SELECT name, CASE WHEN span IS NULL THEN -9007199254740991 ELSE floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - span END, 0
  FROM (VALUES ('all', NULL::bigint), ('1h', 3600000), ('6h', 21600000), ('24h', 86400000), ('7d', 604800000), ('30d', 2592000000)) AS w (name, span)`,
  `INSERT INTO fleet_counts (kind, key, n) VALUES ('policies', '', 0)`,
  `INSERT INTO api_key_generation (id, n) VALUES (1, 0)`,
];

const INDEXES: readonly string[] = [
  `CREATE INDEX api_keys_owner ON api_keys (owner_user_id) WHERE owner_user_id IS NOT NULL`,
  `CREATE INDEX agents_last_heartbeat ON agents (last_heartbeat_ms)`,
  `CREATE INDEX agents_registered ON agents (registered_at, id)`,
  `CREATE INDEX agents_os ON agents (os)`,
  `CREATE INDEX agent_tags_tag ON agent_tags (tag, agent_id)`,
  `CREATE INDEX threat_events_time ON threat_events (timestamp_ms, seq)`,
  `CREATE INDEX policies_scope ON policies (org_id, version) WHERE agent_id IS NULL`,
  `CREATE INDEX policies_agent ON policies (agent_id, version) WHERE agent_id IS NOT NULL AND removed_at IS NULL`,
  `CREATE UNIQUE INDEX iocs_change_seq ON iocs (change_seq)`,
  `CREATE INDEX iocs_feed ON iocs (type, status, reputation, last_seen DESC)`,
  `CREATE INDEX iocs_value ON iocs (value)`,
  `CREATE INDEX iocs_first_seen ON iocs (first_seen)`,
  `CREATE INDEX iocs_updated_at ON iocs (updated_at)`,
  `CREATE INDEX iocs_country ON iocs (country, last_seen) WHERE country IS NOT NULL`,
  `CREATE INDEX ioc_reporters_reporter ON ioc_reporters (reporter_id, first_seen)`,
  `CREATE INDEX sightings_ioc ON sightings (ioc_id, created_at DESC)`,
  `CREATE INDEX ioc_sources_ioc ON ioc_sources (ioc_id)`,
  `CREATE INDEX ioc_relations_to ON ioc_relations (to_id)`,
  `CREATE INDEX ioc_relations_created_at ON ioc_relations (created_at)`,
  `CREATE INDEX trap_events_attacker ON trap_events (attacker_ioc_id, created_at)`,
  `CREATE INDEX trap_events_created_at ON trap_events (created_at)`,
  `CREATE INDEX tc_rules_change_seq ON tc_rules (change_seq)`,
  `CREATE INDEX tc_audit_log_created_at ON tc_audit_log (created_at)`,
  `CREATE INDEX tc_audit_log_action ON tc_audit_log (action, created_at)`,
  `CREATE INDEX sessions_user ON sessions (user_id, created_at)`,
  `CREATE INDEX totp_enabled ON totp_secrets (enabled)`,
  `CREATE INDEX totp_backup_codes_user ON totp_backup_codes (user_id)`,
  `CREATE INDEX password_reset_tokens_user ON password_reset_tokens (user_id)`,
  `CREATE INDEX password_reset_tokens_expires ON password_reset_tokens (expires_at)`,
  `CREATE INDEX outbox_status ON outbox (status, created_at)`,
  `CREATE INDEX outbox_expires ON outbox (expires_at)`,
  `CREATE INDEX outbox_user ON outbox (user_id)`,
  `CREATE INDEX audit_log_created ON audit_log (created_at)`,
  `CREATE INDEX audit_log_action ON audit_log (action, created_at)`,
  `CREATE INDEX audit_log_actor ON audit_log (actor_id, created_at)`,
  `CREATE INDEX audit_log_target ON audit_log (target_id, created_at)`,
  `CREATE INDEX auth_failures_window ON auth_failures (window_ends)`,
  `CREATE INDEX campaigns_activity ON campaigns (last_activity) WHERE formed_at IS NOT NULL`,
  `CREATE INDEX campaigns_updated ON campaigns (updated_at) WHERE formed_at IS NOT NULL`,
  `CREATE INDEX campaigns_severity ON campaigns (severity) WHERE formed_at IS NOT NULL`,
  `CREATE INDEX campaign_iocs_campaign ON campaign_iocs (campaign_id, ioc_id)`,
  `CREATE INDEX campaign_events_campaign ON campaign_events (campaign_id, at)`,
  `CREATE INDEX campaign_techniques_technique ON campaign_techniques (technique_id)`,
  `CREATE INDEX ioc_netblocks_block ON ioc_netblocks (block, ioc_id)`,
  `CREATE INDEX ioc_techniques_technique ON ioc_techniques (technique_id, ioc_id)`,
  `CREATE INDEX ioc_techniques_last_seen ON ioc_techniques (last_seen, technique_id)`,
  `CREATE INDEX sightings_created_ioc ON sightings (created_at, ioc_id)`,
  `CREATE INDEX iocs_id_analytics ON iocs (id, status, category, first_seen, type, value)`,
  `CREATE INDEX enroll_tokens_user ON enroll_tokens (user_id, created_at)`,
  `CREATE INDEX known_addresses_last_success ON known_addresses (last_success_at)`,
  `CREATE INDEX iocs_rank ON iocs (reputation, last_seen DESC, change_seq, type, category, status, updated_at, value)`,
  `CREATE INDEX iocs_rank_type ON iocs (type, reputation, last_seen DESC, change_seq, category, status, updated_at, value)`,
  `CREATE INDEX iocs_rank_category ON iocs (category, reputation, last_seen DESC, change_seq, type, status, updated_at, value)`,
  `CREATE INDEX iocs_rank_status ON iocs (status, reputation, last_seen DESC, change_seq, type, category, updated_at, value)`,
  `CREATE INDEX ioc_source_rank_seq ON ioc_source_rank (change_seq)`,
  `CREATE INDEX campaigns_listing ON campaigns (last_activity DESC, id, updated_at, ioc_count) WHERE formed_at IS NOT NULL`,
  `CREATE INDEX threat_events_org_time ON threat_events (org_id, timestamp_ms, seq, severity, type)`,
  `CREATE INDEX threat_events_agent_time ON threat_events (agent_id, timestamp_ms, seq, severity, type, org_id)`,
  `CREATE INDEX threat_events_severity_time ON threat_events (severity, timestamp_ms, seq, type, org_id)`,
  `CREATE INDEX threat_events_type_time ON threat_events (type, timestamp_ms, seq, severity, org_id)`,
  `CREATE INDEX threat_counts_ranked ON threat_counts (win, kind, scope, n DESC, key)`,
  `CREATE INDEX agents_org_registered ON agents (org_id, registered_at, id)`,
  `CREATE INDEX users_list ON users (created_at DESC, id, role, tier, email, name)`,
  `CREATE INDEX users_role_list ON users (role, created_at DESC, id, tier)`,
  `CREATE INDEX users_tier_list ON users (tier, created_at DESC, id, role)`,
  `CREATE INDEX users_email_prefix ON users (ascii_lower(email), role, tier)`,
  `CREATE INDEX users_name_prefix ON users (ascii_lower(name), role, tier)`,
  `CREATE INDEX users_plan_expires ON users (plan_expires_at) WHERE plan_expires_at IS NOT NULL`,
  `CREATE INDEX sessions_list ON sessions (created_at DESC, id, expires_at, last_used_at)`,
  `CREATE INDEX sessions_live ON sessions (expires_at, last_used_at)`,
  `CREATE INDEX sessions_last_used ON sessions (last_used_at)`,
  `CREATE INDEX audit_log_actor_action ON audit_log (actor_id, action, created_at)`,
  `CREATE INDEX agents_hostname ON agents (ascii_lower(hostname), id)`,
  `CREATE INDEX agents_org_hostname ON agents (org_id, ascii_lower(hostname), id)`,
  `CREATE INDEX threat_buckets_age ON threat_buckets (bucket_ms)`,
  // The rowid columns, looked up and ranged over as SQLite's rowid is.
  ...ROWID_TABLES.map(
    (table) => `CREATE UNIQUE INDEX ${table}_rowid ON ${table} (rowid)`,
  ),
  // SQLite's WITHOUT ROWID primary key (source, reputation, last_seen DESC, change_seq).
  `CREATE UNIQUE INDEX ioc_source_rank_key ON ioc_source_rank (source, reputation, last_seen DESC, change_seq)`,
];

/** The techniques an IoC's metadata names under mitreIds or mitreId, upper-cased and trimmed as on SQLite. */
const VIEWS: readonly string[] = [
  `CREATE VIEW ioc_technique_source AS
  SELECT i.id AS ioc_id, ascii_upper(trim(j.value)) AS technique_id, i.last_seen AS last_seen
  FROM iocs i, json_strings_at(i.metadata, 'mitreIds') AS j (value)
  WHERE trim(j.value) <> ''
  UNION
  SELECT i.id, ascii_upper(trim(j.value)), i.last_seen
  FROM iocs i, json_strings_at(i.metadata, 'mitreId') AS j (value)
  WHERE trim(j.value) <> ''`,
];

interface Trigger {
  name: string;
  /** `AFTER INSERT`, `AFTER UPDATE OF a, b`, `BEFORE DELETE`… */
  fires: string;
  on: string;
  /** The SQLite trigger's WHEN, when it reads only OLD and NEW. */
  when?: string;
  /** PL/pgSQL statements. */
  body: string;
}

const LISTED = `NOT IN ('whitelisted', 'revoked')`;
/** An IoC moved between intel roll-up rows: its type or category changed, or it entered or left the listed statuses. */
const INTEL_MOVED = `(OLD.type IS DISTINCT FROM NEW.type OR OLD.category IS DISTINCT FROM NEW.category
  OR (OLD.status ${LISTED}) IS DISTINCT FROM (NEW.status ${LISTED}))`;
const RANK_MOVED = `(OLD.type IS DISTINCT FROM NEW.type OR OLD.category IS DISTINCT FROM NEW.category
  OR OLD.status IS DISTINCT FROM NEW.status OR OLD.reputation IS DISTINCT FROM NEW.reputation)`;
const IN_FORMED_CAMPAIGN_OF = (iocId: string) => `EXISTS (SELECT 1 FROM campaign_iocs m JOIN campaigns c ON c.id = m.campaign_id
  WHERE m.ioc_id = ${iocId} AND c.formed_at IS NOT NULL)`;
const IN_FORMED_CAMPAIGN = (row: 'NEW' | 'OLD') => IN_FORMED_CAMPAIGN_OF(`${row}.ioc_id`);
const FORMED = (campaignId: string) => `EXISTS (SELECT 1 FROM campaigns WHERE id = ${campaignId} AND formed_at IS NOT NULL)`;

/** `(kind, key, n)` counter moves, as shared/db/counter-sql.ts writes them for SQLite. */
const counterUp = (table: string, kind: string, key: string) =>
  `INSERT INTO ${table} (kind, key, n) VALUES ('${kind}', ${key}, 1) ON CONFLICT (kind, key) DO UPDATE SET n = ${table}.n + 1;`;
const counterDown = (table: string, kind: string, key: string) =>
  `UPDATE ${table} SET n = n - 1 WHERE kind = '${kind}' AND key = ${key};
  DELETE FROM ${table} WHERE kind = '${kind}' AND key = ${key} AND n <= 0;`;
const bumpKeyGeneration = `UPDATE api_key_generation SET n = n + 1 WHERE id = 1;`;

const TRIGGERS: readonly Trigger[] = [
  // Threat Cloud: IoC counts per (type, category, status).
  {
    name: 'iocs_count_insert', fires: 'AFTER INSERT', on: 'iocs',
    body: `INSERT INTO ioc_counts (type, category, status, n) VALUES (NEW.type, coalesce(NEW.category, ''), NEW.status, 1)
    ON CONFLICT (type, category, status) DO UPDATE SET n = ioc_counts.n + 1;`,
  },
  {
    name: 'iocs_count_update', fires: 'AFTER UPDATE OF type, category, status', on: 'iocs',
    when: 'OLD.type IS DISTINCT FROM NEW.type OR OLD.category IS DISTINCT FROM NEW.category OR OLD.status IS DISTINCT FROM NEW.status',
    body: `UPDATE ioc_counts SET n = n - 1 WHERE type = OLD.type AND category = coalesce(OLD.category, '') AND status = OLD.status;
  INSERT INTO ioc_counts (type, category, status, n) VALUES (NEW.type, coalesce(NEW.category, ''), NEW.status, 1)
    ON CONFLICT (type, category, status) DO UPDATE SET n = ioc_counts.n + 1;`,
  },
  {
    name: 'iocs_count_delete', fires: 'AFTER DELETE', on: 'iocs',
    body: `UPDATE ioc_counts SET n = n - 1 WHERE type = OLD.type AND category = coalesce(OLD.category, '') AND status = OLD.status;`,
  },
  // Threat Cloud: the techniques an IoC's metadata names.
  {
    name: 'iocs_techniques_insert', fires: 'AFTER INSERT', on: 'iocs',
    body: `INSERT INTO ioc_techniques (ioc_id, technique_id, last_seen)
    SELECT ioc_id, technique_id, last_seen FROM ioc_technique_source WHERE ioc_id = NEW.id
    ON CONFLICT DO NOTHING;`,
  },
  {
    name: 'iocs_techniques_update', fires: 'AFTER UPDATE OF metadata', on: 'iocs',
    when: 'OLD.metadata IS DISTINCT FROM NEW.metadata',
    body: `DELETE FROM ioc_techniques WHERE ioc_id = NEW.id;
  INSERT INTO ioc_techniques (ioc_id, technique_id, last_seen)
    SELECT ioc_id, technique_id, last_seen FROM ioc_technique_source WHERE ioc_id = NEW.id
    ON CONFLICT DO NOTHING;`,
  },
  {
    name: 'iocs_techniques_last_seen', fires: 'AFTER UPDATE OF last_seen', on: 'iocs',
    when: 'OLD.last_seen IS DISTINCT FROM NEW.last_seen',
    body: `UPDATE ioc_techniques SET last_seen = NEW.last_seen WHERE ioc_id = NEW.id;`,
  },
  // Intel: new IoCs and sightings per hour, type and category, of listed IoCs only.
  {
    name: 'intel_hourly_ioc_insert', fires: 'AFTER INSERT', on: 'iocs',
    when: `NEW.status ${LISTED}`,
    body: `INSERT INTO intel_hourly (hour, type, category, new_iocs) VALUES (substr(NEW.first_seen, 1, 13), NEW.type, coalesce(NEW.category, ''), 1)
    ON CONFLICT (hour, type, category) DO UPDATE SET new_iocs = intel_hourly.new_iocs + 1;`,
  },
  {
    name: 'intel_hourly_sighting_insert', fires: 'AFTER INSERT', on: 'sightings',
    body: `INSERT INTO intel_hourly (hour, type, category, sightings)
    SELECT substr(NEW.created_at, 1, 13), i.type, coalesce(i.category, ''), 1 FROM iocs i WHERE i.id = NEW.ioc_id AND i.status ${LISTED}
    ON CONFLICT (hour, type, category) DO UPDATE SET sightings = intel_hourly.sightings + 1;`,
  },
  {
    name: 'intel_hourly_ioc_leave', fires: 'AFTER UPDATE OF type, category, status, first_seen', on: 'iocs',
    when: `OLD.status ${LISTED} AND (${INTEL_MOVED} OR OLD.first_seen IS DISTINCT FROM NEW.first_seen)`,
    body: `UPDATE intel_hourly SET new_iocs = new_iocs - 1
    WHERE hour = substr(OLD.first_seen, 1, 13) AND type = OLD.type AND category = coalesce(OLD.category, '');
  INSERT INTO intel_hourly (hour, type, category, sightings)
    SELECT substr(created_at, 1, 13), OLD.type, coalesce(OLD.category, ''), -count(*) FROM sightings
    WHERE ioc_id = OLD.id AND ${INTEL_MOVED} GROUP BY 1
    ON CONFLICT (hour, type, category) DO UPDATE SET sightings = intel_hourly.sightings + excluded.sightings;`,
  },
  {
    name: 'intel_hourly_ioc_enter', fires: 'AFTER UPDATE OF type, category, status, first_seen', on: 'iocs',
    when: `NEW.status ${LISTED} AND (${INTEL_MOVED} OR OLD.first_seen IS DISTINCT FROM NEW.first_seen)`,
    body: `INSERT INTO intel_hourly (hour, type, category, new_iocs) VALUES (substr(NEW.first_seen, 1, 13), NEW.type, coalesce(NEW.category, ''), 1)
    ON CONFLICT (hour, type, category) DO UPDATE SET new_iocs = intel_hourly.new_iocs + 1;
  INSERT INTO intel_hourly (hour, type, category, sightings)
    SELECT substr(created_at, 1, 13), NEW.type, coalesce(NEW.category, ''), count(*) FROM sightings
    WHERE ioc_id = NEW.id AND ${INTEL_MOVED} GROUP BY 1
    ON CONFLICT (hour, type, category) DO UPDATE SET sightings = intel_hourly.sightings + excluded.sightings;`,
  },
  // Threat Cloud listing: IoCs per (type, category, status, reputation).
  {
    name: 'tc_list_rank_insert', fires: 'AFTER INSERT', on: 'iocs',
    body: `INSERT INTO ioc_rank_counts (type, category, status, reputation, n) VALUES (NEW.type, coalesce(NEW.category, ''), NEW.status, NEW.reputation, 1)
    ON CONFLICT (type, category, status, reputation) DO UPDATE SET n = ioc_rank_counts.n + 1;`,
  },
  {
    name: 'tc_list_rank_update', fires: 'AFTER UPDATE OF type, category, status, reputation', on: 'iocs',
    when: RANK_MOVED,
    body: `UPDATE ioc_rank_counts SET n = n - 1
    WHERE type = OLD.type AND category = coalesce(OLD.category, '') AND status = OLD.status AND reputation = OLD.reputation;
  INSERT INTO ioc_rank_counts (type, category, status, reputation, n) VALUES (NEW.type, coalesce(NEW.category, ''), NEW.status, NEW.reputation, 1)
    ON CONFLICT (type, category, status, reputation) DO UPDATE SET n = ioc_rank_counts.n + 1;`,
  },
  {
    name: 'tc_list_rank_delete', fires: 'AFTER DELETE', on: 'iocs',
    body: `UPDATE ioc_rank_counts SET n = n - 1
    WHERE type = OLD.type AND category = coalesce(OLD.category, '') AND status = OLD.status AND reputation = OLD.reputation;`,
  },
  // Threat Cloud listing per source: a copy of each IoC's listing columns per source, and counts.
  {
    name: 'tc_list_source_insert', fires: 'AFTER INSERT', on: 'ioc_sources',
    body: `INSERT INTO ioc_source_rank (source, reputation, last_seen, change_seq, type, category, status, updated_at, value)
    SELECT NEW.source, reputation, last_seen, change_seq, type, category, status, updated_at, value FROM iocs WHERE id = NEW.ioc_id;
  INSERT INTO ioc_source_counts (source, type, category, status, reputation, n)
    SELECT NEW.source, type, coalesce(category, ''), status, reputation, 1 FROM iocs WHERE id = NEW.ioc_id
    ON CONFLICT (source, type, category, status, reputation) DO UPDATE SET n = ioc_source_counts.n + 1;`,
  },
  {
    name: 'tc_list_source_ioc_update', fires: 'AFTER UPDATE OF reputation, last_seen, change_seq, type, category, status, updated_at, value', on: 'iocs',
    when: `${RANK_MOVED} OR OLD.last_seen IS DISTINCT FROM NEW.last_seen OR OLD.change_seq IS DISTINCT FROM NEW.change_seq
  OR OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.value IS DISTINCT FROM NEW.value`,
    body: `UPDATE ioc_source_counts SET n = n - 1
    WHERE ${RANK_MOVED} AND (source, type, category, status, reputation) IN (
      SELECT source, OLD.type, coalesce(OLD.category, ''), OLD.status, OLD.reputation FROM ioc_source_rank WHERE change_seq = OLD.change_seq);
  INSERT INTO ioc_source_counts (source, type, category, status, reputation, n)
    SELECT source, NEW.type, coalesce(NEW.category, ''), NEW.status, NEW.reputation, 1 FROM ioc_source_rank
    WHERE change_seq = OLD.change_seq AND ${RANK_MOVED}
    ON CONFLICT (source, type, category, status, reputation) DO UPDATE SET n = ioc_source_counts.n + 1;
  UPDATE ioc_source_rank SET reputation = NEW.reputation, last_seen = NEW.last_seen, change_seq = NEW.change_seq, type = NEW.type,
      category = NEW.category, status = NEW.status, updated_at = NEW.updated_at, value = NEW.value
    WHERE change_seq = OLD.change_seq;`,
  },
  {
    name: 'tc_list_source_ioc_delete', fires: 'AFTER DELETE', on: 'iocs',
    body: `UPDATE ioc_source_counts SET n = n - 1 WHERE (source, type, category, status, reputation) IN (
    SELECT source, type, coalesce(category, ''), status, reputation FROM ioc_source_rank WHERE change_seq = OLD.change_seq);
  DELETE FROM ioc_source_rank WHERE change_seq = OLD.change_seq;`,
  },
  {
    name: 'tc_list_source_delete', fires: 'AFTER DELETE', on: 'ioc_sources',
    body: `UPDATE ioc_source_counts SET n = n - 1 WHERE (source, type, category, status, reputation) IN (
    SELECT r.source, r.type, coalesce(r.category, ''), r.status, r.reputation
    FROM iocs i JOIN ioc_source_rank r ON r.change_seq = i.change_seq AND r.source = OLD.source WHERE i.id = OLD.ioc_id);
  DELETE FROM ioc_source_rank WHERE source = OLD.source AND change_seq = (SELECT change_seq FROM iocs WHERE id = OLD.ioc_id);`,
  },
  // Threat Cloud listing: reports per hour and category, and the list totals.
  {
    name: 'tc_list_report_insert', fires: 'AFTER INSERT', on: 'sightings',
    body: `INSERT INTO tc_report_hours (hour, category, n)
    SELECT substr(NEW.created_at, 1, 13), coalesce(category, ''), 1 FROM iocs WHERE id = NEW.ioc_id
    ON CONFLICT (hour, category) DO UPDATE SET n = tc_report_hours.n + 1;
  UPDATE tc_list_totals SET n = n + 1 WHERE name = 'reports';`,
  },
  {
    name: 'tc_list_report_category', fires: 'AFTER UPDATE OF category', on: 'iocs',
    when: 'OLD.category IS DISTINCT FROM NEW.category',
    body: `INSERT INTO tc_report_hours (hour, category, n)
    SELECT substr(created_at, 1, 13), coalesce(OLD.category, ''), -count(*) FROM sightings WHERE ioc_id = OLD.id GROUP BY 1
    ON CONFLICT (hour, category) DO UPDATE SET n = tc_report_hours.n + excluded.n;
  INSERT INTO tc_report_hours (hour, category, n)
    SELECT substr(created_at, 1, 13), coalesce(NEW.category, ''), count(*) FROM sightings WHERE ioc_id = NEW.id GROUP BY 1
    ON CONFLICT (hour, category) DO UPDATE SET n = tc_report_hours.n + excluded.n;`,
  },
  { name: 'tc_list_sources_insert', fires: 'AFTER INSERT', on: 'tc_sources', body: `UPDATE tc_list_totals SET n = n + 1 WHERE name = 'sources';` },
  { name: 'tc_list_sources_delete', fires: 'AFTER DELETE', on: 'tc_sources', body: `UPDATE tc_list_totals SET n = n - 1 WHERE name = 'sources';` },
  {
    name: 'tc_list_audit_insert', fires: 'AFTER INSERT', on: 'tc_audit_log',
    body: `INSERT INTO tc_audit_hours (action, hour, n) VALUES (NEW.action, substr(NEW.created_at, 1, 13), 1)
    ON CONFLICT (action, hour) DO UPDATE SET n = tc_audit_hours.n + 1;`,
  },
  {
    name: 'tc_list_audit_delete', fires: 'AFTER DELETE', on: 'tc_audit_log',
    body: `UPDATE tc_audit_hours SET n = n - 1 WHERE action = OLD.action AND hour = substr(OLD.created_at, 1, 13);`,
  },
  // Threat Cloud listing: IoCs in formed campaigns, reporters and techniques of formed campaigns.
  {
    name: 'tc_list_campaign_size', fires: 'AFTER UPDATE OF ioc_count, formed_at', on: 'campaigns',
    when: 'OLD.ioc_count IS DISTINCT FROM NEW.ioc_count OR (OLD.formed_at IS NULL) IS DISTINCT FROM (NEW.formed_at IS NULL)',
    body: `UPDATE tc_list_totals SET n = n + (CASE WHEN NEW.formed_at IS NULL THEN 0 ELSE NEW.ioc_count END)
    - (CASE WHEN OLD.formed_at IS NULL THEN 0 ELSE OLD.ioc_count END) WHERE name = 'campaign_iocs';`,
  },
  {
    name: 'tc_list_campaign_size_insert', fires: 'AFTER INSERT', on: 'campaigns', when: 'NEW.formed_at IS NOT NULL',
    body: `UPDATE tc_list_totals SET n = n + NEW.ioc_count WHERE name = 'campaign_iocs';`,
  },
  {
    name: 'tc_list_campaign_size_delete', fires: 'AFTER DELETE', on: 'campaigns', when: 'OLD.formed_at IS NOT NULL',
    body: `UPDATE tc_list_totals SET n = n - OLD.ioc_count WHERE name = 'campaign_iocs';`,
  },
  {
    name: 'tc_list_member_insert', fires: 'AFTER INSERT', on: 'campaign_iocs',
    body: `IF ${FORMED('NEW.campaign_id')} THEN
    INSERT INTO campaign_reporters (reporter_id, n) SELECT reporter_id, 1 FROM ioc_reporters WHERE ioc_id = NEW.ioc_id
      ON CONFLICT (reporter_id) DO UPDATE SET n = campaign_reporters.n + 1;
  END IF;`,
  },
  {
    name: 'tc_list_member_delete', fires: 'AFTER DELETE', on: 'campaign_iocs',
    body: `IF ${FORMED('OLD.campaign_id')} THEN
    UPDATE campaign_reporters SET n = n - 1 WHERE reporter_id IN (SELECT reporter_id FROM ioc_reporters WHERE ioc_id = OLD.ioc_id);
  END IF;`,
  },
  {
    name: 'tc_list_member_move', fires: 'AFTER UPDATE OF campaign_id, ioc_id', on: 'campaign_iocs',
    when: 'OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.ioc_id IS DISTINCT FROM NEW.ioc_id',
    body: `UPDATE campaign_reporters SET n = n - 1
    WHERE ${FORMED('OLD.campaign_id')} AND reporter_id IN (SELECT reporter_id FROM ioc_reporters WHERE ioc_id = OLD.ioc_id);
  INSERT INTO campaign_reporters (reporter_id, n) SELECT reporter_id, 1 FROM ioc_reporters WHERE ioc_id = NEW.ioc_id AND ${FORMED('NEW.campaign_id')}
    ON CONFLICT (reporter_id) DO UPDATE SET n = campaign_reporters.n + 1;`,
  },
  {
    name: 'tc_list_campaign_formed', fires: 'AFTER UPDATE OF formed_at', on: 'campaigns',
    when: '(OLD.formed_at IS NULL) IS DISTINCT FROM (NEW.formed_at IS NULL)',
    body: `INSERT INTO campaign_reporters (reporter_id, n)
    SELECT r.reporter_id, CASE WHEN NEW.formed_at IS NULL THEN -count(*) ELSE count(*) END
    FROM campaign_iocs m JOIN ioc_reporters r ON r.ioc_id = m.ioc_id WHERE m.campaign_id = NEW.id GROUP BY r.reporter_id
    ON CONFLICT (reporter_id) DO UPDATE SET n = campaign_reporters.n + excluded.n;
  INSERT INTO campaign_technique_counts (technique_id, n)
    SELECT technique_id, CASE WHEN NEW.formed_at IS NULL THEN -1 ELSE 1 END FROM campaign_techniques WHERE campaign_id = NEW.id
    ON CONFLICT (technique_id) DO UPDATE SET n = campaign_technique_counts.n + excluded.n;`,
  },
  {
    // Before the delete: its members and techniques, removed by cascade afterwards, are still there to count.
    name: 'tc_list_campaign_delete', fires: 'BEFORE DELETE', on: 'campaigns', when: 'OLD.formed_at IS NOT NULL',
    body: `UPDATE campaign_reporters SET n = n - (
      SELECT count(*) FROM campaign_iocs m JOIN ioc_reporters r ON r.ioc_id = m.ioc_id
      WHERE m.campaign_id = OLD.id AND r.reporter_id = campaign_reporters.reporter_id)
    WHERE reporter_id IN (SELECT r.reporter_id FROM campaign_iocs m JOIN ioc_reporters r ON r.ioc_id = m.ioc_id WHERE m.campaign_id = OLD.id);
  UPDATE campaign_technique_counts SET n = n - 1
    WHERE technique_id IN (SELECT technique_id FROM campaign_techniques WHERE campaign_id = OLD.id);`,
  },
  {
    // PostgreSQL only. Deleting an IoC cascades to its reporters and its campaign membership,
    // and PostgreSQL runs the triggers of both cascades after both deletes, when each finds
    // the other row gone; SQLite runs one cascade's triggers while the other row is still
    // there. So the reporters of an IoC leaving a formed campaign are counted out here, before
    // the delete; the cascades' own triggers then find nothing left to count.
    name: 'tc_list_ioc_delete', fires: 'BEFORE DELETE', on: 'iocs',
    body: `IF ${IN_FORMED_CAMPAIGN_OF('OLD.id')} THEN
    UPDATE campaign_reporters SET n = n - 1 WHERE reporter_id IN (SELECT reporter_id FROM ioc_reporters WHERE ioc_id = OLD.id);
  END IF;`,
  },
  {
    name: 'tc_list_reporter_insert', fires: 'AFTER INSERT', on: 'ioc_reporters',
    body: `IF ${IN_FORMED_CAMPAIGN('NEW')} THEN
    INSERT INTO campaign_reporters (reporter_id, n) VALUES (NEW.reporter_id, 1) ON CONFLICT (reporter_id) DO UPDATE SET n = campaign_reporters.n + 1;
  END IF;`,
  },
  {
    name: 'tc_list_reporter_delete', fires: 'AFTER DELETE', on: 'ioc_reporters',
    body: `IF ${IN_FORMED_CAMPAIGN('OLD')} THEN
    UPDATE campaign_reporters SET n = n - 1 WHERE reporter_id = OLD.reporter_id;
  END IF;`,
  },
  {
    name: 'tc_list_reporter_update', fires: 'AFTER UPDATE OF reporter_id, ioc_id', on: 'ioc_reporters',
    when: 'OLD.reporter_id IS DISTINCT FROM NEW.reporter_id OR OLD.ioc_id IS DISTINCT FROM NEW.ioc_id',
    body: `UPDATE campaign_reporters SET n = n - 1 WHERE reporter_id = OLD.reporter_id AND ${IN_FORMED_CAMPAIGN('OLD')};
  INSERT INTO campaign_reporters (reporter_id, n) SELECT NEW.reporter_id, 1 WHERE ${IN_FORMED_CAMPAIGN('NEW')}
    ON CONFLICT (reporter_id) DO UPDATE SET n = campaign_reporters.n + 1;`,
  },
  {
    name: 'tc_list_technique_insert', fires: 'AFTER INSERT', on: 'campaign_techniques',
    body: `IF ${FORMED('NEW.campaign_id')} THEN
    INSERT INTO campaign_technique_counts (technique_id, n) VALUES (NEW.technique_id, 1)
      ON CONFLICT (technique_id) DO UPDATE SET n = campaign_technique_counts.n + 1;
  END IF;`,
  },
  {
    name: 'tc_list_technique_delete', fires: 'AFTER DELETE', on: 'campaign_techniques',
    body: `IF ${FORMED('OLD.campaign_id')} THEN
    UPDATE campaign_technique_counts SET n = n - 1 WHERE technique_id = OLD.technique_id;
  END IF;`,
  },
  // Manager: agents per OS and per org, and the number of policies.
  {
    name: 'fleet_counts_agent_insert', fires: 'AFTER INSERT', on: 'agents',
    body: `${counterUp('fleet_counts', 'os', 'NEW.os')}\n  ${counterUp('fleet_counts', 'org', 'NEW.org_id')}`,
  },
  {
    name: 'fleet_counts_agent_delete', fires: 'AFTER DELETE', on: 'agents',
    body: `${counterDown('fleet_counts', 'os', 'OLD.os')}\n  ${counterDown('fleet_counts', 'org', 'OLD.org_id')}`,
  },
  {
    name: 'fleet_counts_agent_os', fires: 'AFTER UPDATE OF os', on: 'agents', when: 'OLD.os IS DISTINCT FROM NEW.os',
    body: `${counterDown('fleet_counts', 'os', 'OLD.os')}\n  ${counterUp('fleet_counts', 'os', 'NEW.os')}`,
  },
  {
    name: 'fleet_counts_agent_org', fires: 'AFTER UPDATE OF org_id', on: 'agents', when: 'OLD.org_id IS DISTINCT FROM NEW.org_id',
    body: `${counterDown('fleet_counts', 'org', 'OLD.org_id')}\n  ${counterUp('fleet_counts', 'org', 'NEW.org_id')}`,
  },
  {
    name: 'fleet_counts_policy_insert', fires: 'AFTER INSERT', on: 'policies',
    body: counterUp('fleet_counts', 'policies', `''`),
  },
  {
    name: 'fleet_counts_policy_delete', fires: 'AFTER DELETE', on: 'policies',
    // Kept at zero rather than removed, as on SQLite: the row is seeded and always read.
    body: `UPDATE fleet_counts SET n = n - 1 WHERE kind = 'policies' AND key = '';`,
  },
  // Auth: users per role and tier, signups per day.
  {
    name: 'user_counts_insert', fires: 'AFTER INSERT', on: 'users',
    body: `INSERT INTO user_counts (role, tier, n) VALUES (NEW.role, NEW.tier, 1) ON CONFLICT (role, tier) DO UPDATE SET n = user_counts.n + 1;
  INSERT INTO user_signups (day, n) VALUES (substr(NEW.created_at, 1, 10), 1) ON CONFLICT (day) DO UPDATE SET n = user_signups.n + 1;`,
  },
  {
    name: 'user_counts_delete', fires: 'AFTER DELETE', on: 'users',
    body: `UPDATE user_counts SET n = n - 1 WHERE role = OLD.role AND tier = OLD.tier;
  UPDATE user_signups SET n = n - 1 WHERE day = substr(OLD.created_at, 1, 10);
  DELETE FROM user_signups WHERE day = substr(OLD.created_at, 1, 10) AND n <= 0;`,
  },
  {
    name: 'user_counts_update', fires: 'AFTER UPDATE OF role, tier', on: 'users',
    when: 'OLD.role IS DISTINCT FROM NEW.role OR OLD.tier IS DISTINCT FROM NEW.tier',
    body: `UPDATE user_counts SET n = n - 1 WHERE role = OLD.role AND tier = OLD.tier;
  INSERT INTO user_counts (role, tier, n) VALUES (NEW.role, NEW.tier, 1) ON CONFLICT (role, tier) DO UPDATE SET n = user_counts.n + 1;`,
  },
  {
    name: 'user_signups_update', fires: 'AFTER UPDATE OF created_at', on: 'users',
    when: 'substr(OLD.created_at, 1, 10) IS DISTINCT FROM substr(NEW.created_at, 1, 10)',
    body: `UPDATE user_signups SET n = n - 1 WHERE day = substr(OLD.created_at, 1, 10);
  DELETE FROM user_signups WHERE day = substr(OLD.created_at, 1, 10) AND n <= 0;
  INSERT INTO user_signups (day, n) VALUES (substr(NEW.created_at, 1, 10), 1) ON CONFLICT (day) DO UPDATE SET n = user_signups.n + 1;`,
  },
  // Auth: users with two-factor on, audit entries per action and actor.
  { name: 'totp_counts_insert', fires: 'AFTER INSERT', on: 'totp_secrets', when: 'NEW.enabled = 1', body: counterUp('auth_counts', 'totp', `'enabled'`) },
  { name: 'totp_counts_delete', fires: 'AFTER DELETE', on: 'totp_secrets', when: 'OLD.enabled = 1', body: counterDown('auth_counts', 'totp', `'enabled'`) },
  {
    name: 'totp_counts_on', fires: 'AFTER UPDATE OF enabled', on: 'totp_secrets', when: 'OLD.enabled = 0 AND NEW.enabled = 1',
    body: counterUp('auth_counts', 'totp', `'enabled'`),
  },
  {
    name: 'totp_counts_off', fires: 'AFTER UPDATE OF enabled', on: 'totp_secrets', when: 'OLD.enabled = 1 AND NEW.enabled = 0',
    body: counterDown('auth_counts', 'totp', `'enabled'`),
  },
  {
    name: 'audit_counts_insert', fires: 'AFTER INSERT', on: 'audit_log',
    body: `${counterUp('auth_counts', 'audit', `''`)}
  ${counterUp('auth_counts', 'audit_action', 'NEW.action')}
  INSERT INTO auth_counts (kind, key, n) SELECT 'audit_actor', NEW.actor_id, 1 WHERE NEW.actor_id IS NOT NULL
    ON CONFLICT (kind, key) DO UPDATE SET n = auth_counts.n + 1;`,
  },
  {
    name: 'audit_counts_delete', fires: 'AFTER DELETE', on: 'audit_log',
    body: `${counterDown('auth_counts', 'audit', `''`)}
  ${counterDown('auth_counts', 'audit_action', 'OLD.action')}
  ${counterDown('auth_counts', 'audit_actor', 'OLD.actor_id')}`,
  },
  {
    name: 'audit_counts_action', fires: 'AFTER UPDATE OF action', on: 'audit_log', when: 'OLD.action IS DISTINCT FROM NEW.action',
    body: `${counterDown('auth_counts', 'audit_action', 'OLD.action')}\n  ${counterUp('auth_counts', 'audit_action', 'NEW.action')}`,
  },
  {
    name: 'audit_counts_actor', fires: 'AFTER UPDATE OF actor_id', on: 'audit_log', when: 'OLD.actor_id IS DISTINCT FROM NEW.actor_id',
    body: `${counterDown('auth_counts', 'audit_actor', 'OLD.actor_id')}
  INSERT INTO auth_counts (kind, key, n) SELECT 'audit_actor', NEW.actor_id, 1 WHERE NEW.actor_id IS NOT NULL
    ON CONFLICT (kind, key) DO UPDATE SET n = auth_counts.n + 1;`,
  },
  // Auth: a generation number that any change to keys or to their owners' standing bumps (key caches compare it).
  { name: 'api_key_generation_key_insert', fires: 'AFTER INSERT', on: 'api_keys', body: bumpKeyGeneration },
  { name: 'api_key_generation_key_update', fires: 'AFTER UPDATE', on: 'api_keys', body: bumpKeyGeneration },
  { name: 'api_key_generation_key_delete', fires: 'AFTER DELETE', on: 'api_keys', body: bumpKeyGeneration },
  {
    name: 'api_key_generation_owner_update', fires: 'AFTER UPDATE OF id, tier, suspended', on: 'users',
    when: 'OLD.id IS DISTINCT FROM NEW.id OR OLD.tier IS DISTINCT FROM NEW.tier OR OLD.suspended IS DISTINCT FROM NEW.suspended',
    body: bumpKeyGeneration,
  },
  { name: 'api_key_generation_owner_delete', fires: 'AFTER DELETE', on: 'users', body: bumpKeyGeneration },
];

/** One PL/pgSQL function per trigger, named as the trigger; a BEFORE DELETE trigger must return OLD to let the delete happen. */
function triggerSql({ name, fires, on, when, body }: Trigger): string[] {
  const result = fires.startsWith('BEFORE') ? 'OLD' : 'NULL';
  return [
    `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  ${body}
  RETURN ${result};
END
$fn$`,
    `CREATE TRIGGER ${name} ${fires} ON ${on} FOR EACH ROW${when ? ` WHEN (${when})` : ''} EXECUTE FUNCTION ${name}()`,
  ];
}


export const baseline: PostgresMigration = {
  version: 14,
  name: 'baseline: the schema of SQLite version 14 (auth, manager, threat cloud, intel)',
  statements: [...FUNCTIONS, ...TABLES, ...SEEDED, ...INDEXES, ...VIEWS, ...TRIGGERS.flatMap(triggerSql)],
};
