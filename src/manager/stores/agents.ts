import { randomBytes } from 'node:crypto';
import type { Db } from '../../shared/db/open.js';
import { prefixSearch } from '../../shared/db/prefix-search.js';
import { defineStatement, type PerEngineSql, type Queryable, type Statement, type Transaction, type Storage } from '../../shared/db/storage.js';
import type { AgentSort, SortOrder } from '../schemas.js';

export interface AgentRow {
  id: string;
  org_id: string;
  hostname: string;
  os: string;
  version: string;
  ip: string;
  tags: string;
  token_hash: string;
  status: string;
  last_heartbeat_ms: number;
  cpu: number | null;
  memory: number | null;
  uptime: number | null;
  policy_version: string | null;
  registered_at: string;
}

export interface NewAgent {
  id: string;
  orgId: string;
  hostname: string;
  os: string;
  version: string;
  ip: string;
  tags: string[];
  tokenHash: string;
  nowMs: number;
  nowIso: string;
}

export type HeartbeatUpdate = {
  id: string;
  nowMs: number;
  /** The stored status's change time if it was not `online` (the first of the beats this write stands for). */
  onlineSinceIso: string;
  cpu: number | null;
  memory: number | null;
  uptime: number | null;
  version: string | null;
  policyVersion: string | null;
};

export interface AgentFilter {
  orgId: string | null;
  heartbeatFrom: number | null;
  heartbeatTo: number | null;
  tags: string[];
  /** Hostnames starting with this, ignoring ASCII case. */
  q?: string | null;
}

export interface AgentOrder {
  sort: AgentSort;
  order: SortOrder;
}

/** Where a sweep resumes in `(last_heartbeat_ms, rowid)` order. */
export interface SweepCursor {
  hb: number;
  rowid: number;
}

export interface SweptAgent {
  rowid: number;
  id: string;
  hostname: string;
  status: string;
  last_heartbeat_ms: number;
}

export interface StatusCounts {
  total: number;
  online: number;
  stale: number;
  offline: number;
}

const both = (sql: string): PerEngineSql => ({ sqlite: sql, postgres: sql });

// List filters as fixed fragments, each in both dialects; one statement per combination
// present, order and direction, so each is a plain indexed walk in list order (org: its own
// index) that stops after OFFSET + LIMIT matches. A hostname search is a range of the
// hostname index: in hostname order the walk itself, otherwise (checked on each row) the
// count's range. PostgreSQL folds with ascii_lower (its indexes hold it): NOCASE and SQLite's
// LIKE ignore ASCII case only, lower() and PostgreSQL's LIKE do otherwise. No upper bound
// (null) is a BLOB on SQLite, above all text there, so the index range keeps both ends.
const CLAUSES = {
  orgId: both('a.org_id = @orgId'),
  heartbeatFrom: both('a.last_heartbeat_ms >= @heartbeatFrom'),
  heartbeatTo: both('a.last_heartbeat_ms < @heartbeatTo'),
  tags: {
    sqlite: `(SELECT COUNT(*) FROM agent_tags t WHERE t.agent_id = a.id AND t.tag IN (SELECT value FROM json_each(@tags))) = @tagCount`,
    postgres: `(SELECT COUNT(*) FROM agent_tags t WHERE t.agent_id = a.id AND t.tag IN (SELECT json_array_elements_text(CAST(@tags AS json)))) = @tagCount`,
  },
  q: {
    sqlite: `a.hostname COLLATE NOCASE >= @qLo AND a.hostname COLLATE NOCASE < coalesce(@qHi, x'ff') AND a.hostname LIKE @qLike ESCAPE '\\'`,
    postgres: `ascii_lower(a.hostname) >= @qLo AND (CAST(@qHi AS text) IS NULL OR ascii_lower(a.hostname) < @qHi) AND ascii_lower(a.hostname) LIKE ascii_lower(@qLike) ESCAPE '\\'`,
  },
} satisfies Record<string, PerEngineSql>;
export type AgentListClause = keyof typeof CLAUSES;

/**
 * Each order's index and ORDER BY (ties by a unique key, so pages neither repeat nor skip).
 * Last heartbeat has no per-org index (each index holding that time is rewritten by every
 * heartbeat): with an org it walks the fleet's, checking the org on the row.
 */
const ORDERS: Record<AgentSort, { index: string; orgIndex: string; by: (dir: string) => PerEngineSql }> = {
  registeredAt: { index: 'agents_registered', orgIndex: 'agents_org_registered', by: (dir) => both(`a.registered_at ${dir}, a.id ${dir}`) },
  hostname: {
    index: 'agents_hostname',
    orgIndex: 'agents_org_hostname',
    by: (dir) => ({ sqlite: `a.hostname COLLATE NOCASE ${dir}, a.id ${dir}`, postgres: `ascii_lower(a.hostname) ${dir}, a.id ${dir}` }),
  },
  lastHeartbeat: { index: 'agents_last_heartbeat', orgIndex: 'agents_last_heartbeat', by: (dir) => both(`a.last_heartbeat_ms ${dir}, a.rowid ${dir}`) },
};

/** SQLite's `a.*`: every column but PostgreSQL's rowid identity column, so both engines answer the same rows. */
const AGENT_COLUMNS = [
  'id', 'org_id', 'hostname', 'os', 'version', 'ip', 'tags', 'token_hash', 'status', 'status_changed_at',
  'last_heartbeat_ms', 'cpu', 'memory', 'uptime', 'policy_version', 'registered_at',
].map((column) => `a.${column}`).join(', ');

export interface AgentListStatements {
  page: Statement<Record<string, unknown>, AgentRow>;
  /** Null when the total is a kept count (only the org, or nothing, given). */
  count: Statement<Record<string, unknown>, { n: number }> | null;
}

const definePerEngine = <Row>(sql: PerEngineSql) =>
  defineStatement<Record<string, unknown>, Row>(sql.sqlite === sql.postgres ? sql.sqlite : sql);

const composedLists = new Map<string, AgentListStatements>();

/** The list statements for the filters present, an order and a direction: composed once, the same objects after. */
export function agentListStatements(present: readonly AgentListClause[], sort: AgentSort, order: SortOrder): AgentListStatements {
  const cacheKey = `${present.join(',')}|${sort}|${order}`;
  let statements = composedLists.get(cacheKey);
  if (!statements) {
    const byOrg = present.includes('orgId');
    const index = byOrg ? ORDERS[sort].orgIndex : ORDERS[sort].index;
    const by = ORDERS[sort].by(order.toUpperCase());
    const inDialect = (engine: keyof PerEngineSql) => {
      const conditions = present.map((key) => CLAUSES[key][engine]).join(' AND ');
      const where = present.length > 0 ? `WHERE ${conditions}` : '';
      // PostgreSQL's planner chooses by its own statistics: SQLite's index pins stay on SQLite.
      const indexedBy = (name: string) => (engine === 'sqlite' ? ` INDEXED BY ${name}` : '');
      // Totals: the kept per-org and fleet counts when only the org (or nothing) is given;
      // otherwise counted, driven by the hostname range when searching, else the first tag's index.
      let count: string | null = null;
      if (present.includes('q')) {
        count = `SELECT COUNT(*) AS n FROM agents a${indexedBy(byOrg ? 'agents_org_hostname' : 'agents_hostname')} ${where}`;
      } else if (present.includes('tags')) {
        count = `SELECT COUNT(*) AS n FROM agent_tags f JOIN agents a ON a.id = f.agent_id WHERE f.tag = @firstTag AND ${conditions}`;
      } else if (!present.every((key) => key === 'orgId')) {
        count = `SELECT COUNT(*) AS n FROM agents a ${where}`;
      }
      const columns = engine === 'sqlite' ? 'a.*' : AGENT_COLUMNS;
      const page = `SELECT ${columns} FROM agents a${indexedBy(index)} ${where} ORDER BY ${by[engine]} LIMIT @limit OFFSET @offset`;
      return { page, count };
    };
    const sqlite = inDialect('sqlite');
    const postgres = inDialect('postgres');
    statements = {
      page: definePerEngine<AgentRow>({ sqlite: sqlite.page, postgres: postgres.page }),
      count: sqlite.count === null ? null : definePerEngine<{ n: number }>({ sqlite: sqlite.count, postgres: postgres.count! }),
    };
    composedLists.set(cacheKey, statements);
  }
  return statements;
}

/**
 * A list request as statements and parameters, the same parameters on both engines (the page
 * takes `limit` and `offset` besides).
 */
export function agentListQuery(filter: AgentFilter, order: AgentOrder): { params: Record<string, unknown>; statements: AgentListStatements } {
  const tags = [...new Set(filter.tags)];
  const bounds = filter.q ? prefixSearch(filter.q) : null;
  const params: Record<string, unknown> = {
    orgId: filter.orgId,
    heartbeatFrom: filter.heartbeatFrom,
    heartbeatTo: filter.heartbeatTo,
    tags: JSON.stringify(tags),
    tagCount: tags.length,
    firstTag: tags[0] ?? null,
    qLo: bounds?.lo ?? null,
    qHi: bounds?.hi ?? null,
    qLike: bounds?.like ?? null,
  };
  const present = (Object.keys(CLAUSES) as AgentListClause[]).filter((key) =>
    key === 'tags' ? tags.length > 0 : key === 'q' ? bounds !== null : params[key] !== null,
  );
  return { params, statements: agentListStatements(present, order.sort, order.order) };
}

/**
 * Agent ids by token hash, remembered so an agent's every request does not read the table to
 * learn who it is. Exact, not a time-limited cache: TEMP triggers on this connection (never
 * in the file's schema) call back into it when a row is deleted or its token replaced, inside
 * the very statement that does it, whichever code runs that statement (a deregistration, a
 * re-registration, the Auth Server deleting an account's org). So a revoked token is refused
 * on the next request. Only hashes of tokens that worked are kept, at most one per agent.
 */
function createTokenIndex(db: Db) {
  const ids = new Map<string, string>();
  // Unique per store: several apps may share one connection (tests), each with its own map.
  const name = `panguard_agent_token_gone_${randomBytes(6).toString('hex')}`;
  db.function(name, { deterministic: false }, (tokenHash: unknown) => {
    if (typeof tokenHash === 'string') ids.delete(tokenHash);
    return null;
  });
  db.exec(`
    CREATE TEMP TRIGGER ${name}_deleted AFTER DELETE ON main.agents BEGIN SELECT ${name}(OLD.token_hash); END;
    CREATE TEMP TRIGGER ${name}_replaced AFTER UPDATE OF token_hash ON main.agents BEGIN SELECT ${name}(OLD.token_hash); END;`);
  return {
    get: (tokenHash: string) => ids.get(tokenHash),
    remember: (tokenHash: string, id: string) => void ids.set(tokenHash, id),
    /** Drops the triggers (the connection outlives the app); a closed connection took them along. */
    close(): void {
      ids.clear();
      if (db.open) db.exec(`DROP TRIGGER IF EXISTS temp.${name}_deleted; DROP TRIGGER IF EXISTS temp.${name}_replaced;`);
    },
  };
}

const BY_ID = defineStatement<[id: string], AgentRow>('SELECT * FROM agents WHERE id = ?');
const BY_ORG_HOSTNAME = defineStatement<[orgId: string, hostname: string], AgentRow>('SELECT * FROM agents WHERE org_id = ? AND hostname = ?');
type InsertParams = Omit<NewAgent, 'tags'> & { tags: string };
const INSERT = defineStatement<InsertParams>(`
    INSERT INTO agents (id, org_id, hostname, os, version, ip, tags, token_hash, status, status_changed_at, last_heartbeat_ms, registered_at)
    VALUES (@id, @orgId, @hostname, @os, @version, @ip, @tags, @tokenHash, 'online', @nowIso, @nowMs, @nowIso)`);
type ReRegisterParams = { id: string; os: string; version: string; ip: string; tags: string; tokenHash: string; nowMs: number; nowIso: string };
const RE_REGISTER = defineStatement<ReRegisterParams>(`
    UPDATE agents SET os = @os, version = @version, ip = @ip, tags = @tags, token_hash = @tokenHash,
      status = 'online', status_changed_at = CASE WHEN status = 'online' THEN status_changed_at ELSE @nowIso END,
      last_heartbeat_ms = @nowMs
    WHERE id = @id`);
const CLEAR_TAGS = defineStatement<[agentId: string]>('DELETE FROM agent_tags WHERE agent_id = ?');
const ADD_TAG = defineStatement<[agentId: string, tag: string]>('INSERT INTO agent_tags (agent_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING');
const HEARTBEAT = defineStatement<HeartbeatUpdate>(`
    UPDATE agents SET last_heartbeat_ms = @nowMs, cpu = @cpu, memory = @memory, uptime = @uptime,
      version = COALESCE(@version, version), policy_version = COALESCE(@policyVersion, policy_version),
      status = 'online', status_changed_at = CASE WHEN status = 'online' THEN status_changed_at ELSE @onlineSinceIso END
    WHERE id = @id`);
const REMOVE = defineStatement<[id: string]>('DELETE FROM agents WHERE id = ?');
const FLEET_COUNT = defineStatement<void, { n: number }>(`SELECT coalesce(sum(n), 0) AS n FROM fleet_counts WHERE kind = 'os'`);
const ORG_COUNT = defineStatement<[orgId: string], { n: number }>(`SELECT n FROM fleet_counts WHERE kind = 'org' AND key = ?`);
// Each status is a range of the heartbeat index, counted there without reading a row.
const STATUS_COUNTS = defineStatement<{ onlineFrom: number; staleFrom: number }, Omit<StatusCounts, 'total'>>(`
    SELECT (SELECT COUNT(*) FROM agents WHERE last_heartbeat_ms >= @onlineFrom) AS online,
      (SELECT COUNT(*) FROM agents WHERE last_heartbeat_ms >= @staleFrom AND last_heartbeat_ms < @onlineFrom) AS stale,
      (SELECT COUNT(*) FROM agents WHERE last_heartbeat_ms < @staleFrom) AS offline`);
const BY_OS = defineStatement<void, { os: string; n: number }>(`SELECT key AS os, n FROM fleet_counts WHERE kind = 'os' ORDER BY n DESC, key`);
// The sweeper walks the heartbeat index from a cursor in slices and stores the transitions.
const NOT_ONLINE = defineStatement<{ hb: number; rowid: number; onlineFrom: number; limit: number }, SweptAgent>(`
    SELECT rowid, id, hostname, status, last_heartbeat_ms FROM agents
    WHERE (last_heartbeat_ms, rowid) > (@hb, @rowid) AND last_heartbeat_ms < @onlineFrom
    ORDER BY last_heartbeat_ms, rowid LIMIT @limit`);
// A transition is written only if the row still qualifies when it is written: a heartbeat that
// committed after the sweeper read the row (PostgreSQL, where they do not share one writer)
// keeps it online, and the sweeper announces nothing for it.
const SET_STATUS = defineStatement<{ status: 'stale' | 'offline'; changedAt: string; rowid: number; from: number; until: number; was: string }>(
  `UPDATE agents SET status = @status, status_changed_at = @changedAt
   WHERE rowid = @rowid AND last_heartbeat_ms >= @from AND last_heartbeat_ms < @until AND status = @was`,
);

const ID_BY_TOKEN_HASH = defineStatement<[tokenHash: string], { id: string }>('SELECT id FROM agents WHERE token_hash = ?');

/**
 * SQL of the agents and their tags, through the storage port. Methods that take a Queryable
 * first run inside the caller's transaction (`tx`) or on their own (`storage`). On SQLite
 * (`sqlite` given) the token lookup stays on the connection, answered without a promise: its
 * cache is kept exact by TEMP triggers. PostgreSQL has no such hook into another process's
 * deletes, so there every lookup reads the row (one indexed round trip).
 */
export function createAgentStore(storage: Storage, sqlite?: Db) {
  const lookupOnConnection = sqlite?.prepare<[string], { id: string }>(ID_BY_TOKEN_HASH.sql);
  const tokens = sqlite ? createTokenIndex(sqlite) : null;

  const replaceTags = async (q: Queryable, id: string, tags: string[]) => {
    await q.run(CLEAR_TAGS, [id]);
    for (const tag of tags) await q.run(ADD_TAG, [id, tag]);
  };

  return {
    findById: (q: Queryable, id: string) => q.get(BY_ID, [id]),
    /** The id of the agent holding this token (by its SHA-256), if any; at once on SQLite. */
    idByTokenHash(tokenHash: string): string | undefined | Promise<string | undefined> {
      if (tokens === null || lookupOnConnection === undefined) return storage.get(ID_BY_TOKEN_HASH, [tokenHash]).then((row) => row?.id);
      const known = tokens.get(tokenHash);
      if (known !== undefined) return known;
      const id = lookupOnConnection.get(tokenHash)?.id;
      if (id !== undefined) tokens.remember(tokenHash, id);
      return id;
    },
    findByOrgHostname: (q: Queryable, orgId: string, hostname: string) => q.get(BY_ORG_HOSTNAME, [orgId, hostname]),
    /** Callers run this inside a transaction: the row and its tags go together. */
    async insert(tx: Transaction, agent: NewAgent): Promise<void> {
      await tx.run(INSERT, { id: agent.id, orgId: agent.orgId, hostname: agent.hostname, os: agent.os, version: agent.version, ip: agent.ip, tags: JSON.stringify(agent.tags), tokenHash: agent.tokenHash, nowMs: agent.nowMs, nowIso: agent.nowIso });
      await replaceTags(tx, agent.id, agent.tags);
    },
    /** Registration of a known hostname: new token, fresh details, counts as a heartbeat. */
    async reRegister(tx: Transaction, agent: Omit<NewAgent, 'orgId' | 'hostname'>): Promise<void> {
      await tx.run(RE_REGISTER, { id: agent.id, os: agent.os, version: agent.version, ip: agent.ip, tags: JSON.stringify(agent.tags), tokenHash: agent.tokenHash, nowMs: agent.nowMs, nowIso: agent.nowIso });
      await replaceTags(tx, agent.id, agent.tags);
    },
    heartbeat: async (q: Queryable, update: HeartbeatUpdate) => (await q.run(HEARTBEAT, update)).changes === 1,
    remove: async (id: string) => (await storage.run(REMOVE, [id])).changes === 1,
    /**
     * A page in the given order and the exact total (the fleet is bounded: at most its agents
     * are counted; a search counts its hostname range).
     */
    async list(filter: AgentFilter, limit: number, offset: number, order: AgentOrder = { sort: 'registeredAt', order: 'desc' }): Promise<{ rows: AgentRow[]; total: number }> {
      const { params, statements } = agentListQuery(filter, order);
      const total = statements.count
        ? (await storage.get(statements.count, params))!.n
        : filter.orgId !== null
          ? ((await storage.get(ORG_COUNT, [filter.orgId]))?.n ?? 0)
          : (await storage.get(FLEET_COUNT))!.n;
      // Knowing how many match, the walk stops at the last one instead of searching past it.
      const rows = offset >= total ? [] : await storage.all(statements.page, { ...params, limit: Math.min(limit, total - offset), offset });
      return { rows, total };
    },
    async statusCounts(onlineFrom: number, staleFrom: number, q: Queryable = storage): Promise<StatusCounts> {
      const counts = (await q.get(STATUS_COUNTS, { onlineFrom, staleFrom }))!;
      return { total: counts.online + counts.stale + counts.offline, ...counts };
    },
    countByOs: () => storage.all(BY_OS),
    /** Agents last heard from before `onlineFrom`, after the cursor, in heartbeat order. */
    notOnlineAfter: (q: Queryable, cursor: SweepCursor, onlineFrom: number, limit: number) => q.all(NOT_ONLINE, { hb: cursor.hb, rowid: cursor.rowid, onlineFrom, limit }),
    /**
     * Moves an agent from `was` to `status` if its last heartbeat is still in [from, until);
     * false when a heartbeat (or another sweep) changed the row meanwhile.
     */
    setStatus: async (q: Queryable, change: { rowid: number; status: 'stale' | 'offline'; was: string; from: number; until: number }, nowIso: string) =>
      (await q.run(SET_STATUS, { ...change, changedAt: nowIso })).changes === 1,
    /** When the app closes: its triggers leave the shared connection. */
    close: () => tokens?.close(),
  };
}

export type AgentStore = ReturnType<typeof createAgentStore>;
