import type { Db } from '../shared/db/open.js';

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

export interface HeartbeatUpdate {
  id: string;
  nowMs: number;
  nowIso: string;
  cpu: number | null;
  memory: number | null;
  uptime: number | null;
  version: string | null;
  policyVersion: string | null;
}

export interface AgentFilter {
  orgId: string | null;
  heartbeatFrom: number | null;
  heartbeatTo: number | null;
  tags: string[];
}

export interface StatusCounts {
  total: number;
  online: number;
  stale: number;
  offline: number;
}

/** SQL of the agents and their tags; every statement prepared once. */
export function createAgentStore(db: Db) {
  const byId = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE id = ?');
  const byTokenHash = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE token_hash = ?');
  const byOrgHostname = db.prepare<[string, string], AgentRow>('SELECT * FROM agents WHERE org_id = ? AND hostname = ?');
  const insert = db.prepare(`
    INSERT INTO agents (id, org_id, hostname, os, version, ip, tags, token_hash, status, status_changed_at, last_heartbeat_ms, registered_at)
    VALUES (@id, @orgId, @hostname, @os, @version, @ip, @tags, @tokenHash, 'online', @nowIso, @nowMs, @nowIso)`);
  const reRegister = db.prepare(`
    UPDATE agents SET os = @os, version = @version, ip = @ip, tags = @tags, token_hash = @tokenHash,
      status = 'online', status_changed_at = CASE WHEN status = 'online' THEN status_changed_at ELSE @nowIso END,
      last_heartbeat_ms = @nowMs
    WHERE id = @id`);
  const clearTags = db.prepare<[string]>('DELETE FROM agent_tags WHERE agent_id = ?');
  const addTag = db.prepare<[string, string]>('INSERT OR IGNORE INTO agent_tags (agent_id, tag) VALUES (?, ?)');
  const heartbeat = db.prepare(`
    UPDATE agents SET last_heartbeat_ms = @nowMs, cpu = @cpu, memory = @memory, uptime = @uptime,
      version = COALESCE(@version, version), policy_version = COALESCE(@policyVersion, policy_version),
      status = 'online', status_changed_at = CASE WHEN status = 'online' THEN status_changed_at ELSE @nowIso END
    WHERE id = @id`);
  const remove = db.prepare<[string]>('DELETE FROM agents WHERE id = ?');

  const FILTER = `
    FROM agents a
    WHERE (@orgId IS NULL OR a.org_id = @orgId)
      AND (@heartbeatFrom IS NULL OR a.last_heartbeat_ms >= @heartbeatFrom)
      AND (@heartbeatTo IS NULL OR a.last_heartbeat_ms < @heartbeatTo)
      AND (@tagCount = 0 OR (SELECT COUNT(*) FROM agent_tags t
                             WHERE t.agent_id = a.id AND t.tag IN (SELECT value FROM json_each(@tags))) = @tagCount)`;
  const listPage = db.prepare<Record<string, unknown>, AgentRow>(
    `SELECT a.* ${FILTER} ORDER BY a.registered_at DESC, a.id DESC LIMIT @limit OFFSET @offset`,
  );
  const countFiltered = db.prepare<Record<string, unknown>, { n: number }>(`SELECT COUNT(*) AS n ${FILTER}`);

  const statusCounts = db.prepare<{ onlineFrom: number; staleFrom: number }, StatusCounts>(`
    SELECT COUNT(*) AS total,
      COALESCE(SUM(last_heartbeat_ms >= @onlineFrom), 0) AS online,
      COALESCE(SUM(last_heartbeat_ms < @onlineFrom AND last_heartbeat_ms >= @staleFrom), 0) AS stale,
      COALESCE(SUM(last_heartbeat_ms < @staleFrom), 0) AS offline
    FROM agents`);
  const byOs = db.prepare<[], { os: string; n: number }>('SELECT os, COUNT(*) AS n FROM agents GROUP BY os ORDER BY n DESC, os');

  // The sweeper's transitions: one UPDATE per target status, RETURNING what the events need.
  const markOffline = db.prepare<{ staleFrom: number; nowIso: string }, { id: string; hostname: string; last_heartbeat_ms: number }>(`
    UPDATE agents SET status = 'offline', status_changed_at = @nowIso
    WHERE status IN ('online', 'stale') AND last_heartbeat_ms < @staleFrom
    RETURNING id, hostname, last_heartbeat_ms`);
  const markStale = db.prepare<{ onlineFrom: number; staleFrom: number; nowIso: string }, { id: string }>(`
    UPDATE agents SET status = 'stale', status_changed_at = @nowIso
    WHERE status = 'online' AND last_heartbeat_ms < @onlineFrom AND last_heartbeat_ms >= @staleFrom
    RETURNING id`);

  const replaceTags = (id: string, tags: string[]) => {
    clearTags.run(id);
    for (const tag of tags) addTag.run(id, tag);
  };
  const filterParams = (filter: AgentFilter) => {
    const tags = [...new Set(filter.tags)];
    return { orgId: filter.orgId, heartbeatFrom: filter.heartbeatFrom, heartbeatTo: filter.heartbeatTo, tags: JSON.stringify(tags), tagCount: tags.length };
  };

  return {
    findById: (id: string) => byId.get(id),
    findByTokenHash: (tokenHash: string) => byTokenHash.get(tokenHash),
    findByOrgHostname: (orgId: string, hostname: string) => byOrgHostname.get(orgId, hostname),
    /** Callers run this inside a transaction: the row and its tags go together. */
    insert(agent: NewAgent): void {
      insert.run({ ...agent, tags: JSON.stringify(agent.tags) });
      replaceTags(agent.id, agent.tags);
    },
    /** Registration of a known hostname: new token, fresh details, counts as a heartbeat. */
    reRegister(agent: Omit<NewAgent, 'orgId' | 'hostname'>): void {
      reRegister.run({ id: agent.id, os: agent.os, version: agent.version, ip: agent.ip, tags: JSON.stringify(agent.tags), tokenHash: agent.tokenHash, nowMs: agent.nowMs, nowIso: agent.nowIso });
      replaceTags(agent.id, agent.tags);
    },
    heartbeat: (update: HeartbeatUpdate) => heartbeat.run(update).changes === 1,
    remove: (id: string) => remove.run(id).changes === 1,
    list(filter: AgentFilter, limit: number, offset: number): { rows: AgentRow[]; total: number } {
      const params = filterParams(filter);
      return { rows: listPage.all({ ...params, limit, offset }), total: countFiltered.get(params)!.n };
    },
    statusCounts: (onlineFrom: number, staleFrom: number) => statusCounts.get({ onlineFrom, staleFrom })!,
    countByOs: () => byOs.all(),
    markOffline: (staleFrom: number, nowIso: string) => markOffline.all({ staleFrom, nowIso }),
    markStale: (onlineFrom: number, staleFrom: number, nowIso: string) => markStale.all({ onlineFrom, staleFrom, nowIso }),
  };
}

export type AgentStore = ReturnType<typeof createAgentStore>;
