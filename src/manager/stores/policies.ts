import { defineStatement, type Queryable, type Transaction, type Storage } from '../../shared/db/storage.js';

export interface PolicyRow {
  id: string;
  org_id: string | null;
  agent_id: string | null;
  version: number;
  name: string;
  description: string | null;
  rules: string;
  broadcasted_to: number;
  created_at: string;
  removed_at: string | null;
}

export type NewPolicy = {
  id: string;
  orgId: string | null;
  agentId: string | null;
  name: string;
  description: string | null;
  rules: string;
  createdAt: string;
};

/** Every version, newest first, read through the storage port. */
const HISTORY_PAGE = defineStatement<[limit: number, offset: number], PolicyRow>('SELECT * FROM policies ORDER BY version DESC LIMIT ? OFFSET ?');
// Kept by trigger (migrations/011-read-indexes.ts): the history's total without counting every policy.
const HISTORY_COUNT = defineStatement<void, { n: number }>(`SELECT coalesce(sum(n), 0) AS n FROM fleet_counts WHERE kind = 'policies'`);

const INSERT = defineStatement<NewPolicy, PolicyRow>(`
    INSERT INTO policies (id, org_id, agent_id, version, name, description, rules, created_at)
    VALUES (@id, @orgId, @agentId, (SELECT COALESCE(MAX(version), 0) + 1 FROM policies), @name, @description, @rules, @createdAt)
    RETURNING *`);
const SET_BROADCAST = defineStatement<[count: number, id: string]>('UPDATE policies SET broadcasted_to = ? WHERE id = ?');
// Override first, then the agent's org, then global; newest version within each.
const APPLICABLE = defineStatement<{ agentId: string; orgId: string }, PolicyRow>(`
    SELECT * FROM (
      SELECT *, 0 AS rank FROM (SELECT * FROM policies WHERE agent_id = @agentId AND removed_at IS NULL ORDER BY version DESC LIMIT 1) AS agent_override
      UNION ALL
      SELECT *, 1 AS rank FROM (SELECT * FROM policies WHERE agent_id IS NULL AND org_id = @orgId ORDER BY version DESC LIMIT 1) AS of_org
      UNION ALL
      SELECT *, 2 AS rank FROM (SELECT * FROM policies WHERE agent_id IS NULL AND org_id IS NULL ORDER BY version DESC LIMIT 1) AS global_policy
    ) AS candidates ORDER BY rank LIMIT 1`);
const NEWEST_GLOBAL = defineStatement<void, PolicyRow>(
  'SELECT * FROM policies WHERE agent_id IS NULL AND org_id IS NULL ORDER BY version DESC LIMIT 1',
);
// The org's newest, else the newest global: two index lookups rather than a sort of every policy.
const NEWEST_FOR_ORG = defineStatement<[orgId: string], PolicyRow>(`
    SELECT * FROM (
      SELECT *, 0 AS rank FROM (SELECT * FROM policies WHERE agent_id IS NULL AND org_id = ? ORDER BY version DESC LIMIT 1) AS of_org
      UNION ALL
      SELECT *, 1 AS rank FROM (SELECT * FROM policies WHERE agent_id IS NULL AND org_id IS NULL ORDER BY version DESC LIMIT 1) AS global_policy
    ) AS candidates ORDER BY rank LIMIT 1`);
const REMOVE_OVERRIDE = defineStatement<[removedAt: string, agentId: string]>(
  'UPDATE policies SET removed_at = ? WHERE agent_id = ? AND removed_at IS NULL',
);
// broadcastedTo: online agents a new policy applies to at creation, counted in SQL on the
// heartbeat index (only online agents are read, however many are offline).
const REACH_OF_GLOBAL = defineStatement<[onlineFrom: number], { n: number }>(`
    SELECT COUNT(*) AS n FROM agents a INDEXED BY agents_last_heartbeat
    WHERE a.last_heartbeat_ms >= ?
      AND NOT EXISTS (SELECT 1 FROM policies p WHERE p.agent_id = a.id AND p.removed_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM policies p INDEXED BY policies_scope WHERE p.agent_id IS NULL AND p.org_id = a.org_id)`);
const REACH_OF_ORG = defineStatement<[orgId: string, onlineFrom: number], { n: number }>(`
    SELECT COUNT(*) AS n FROM agents a
    WHERE a.org_id = ? AND a.last_heartbeat_ms >= ?
      AND NOT EXISTS (SELECT 1 FROM policies p WHERE p.agent_id = a.id AND p.removed_at IS NULL)`);

/**
 * SQL of the policies; versions come from one counter shared by every scope. Methods that
 * take a Queryable first run inside the caller's transaction or on their own.
 */
export function createPolicyStore(storage: Storage) {
  return {
    /** Inserts with the next version; callers wrap it with the broadcast count in a transaction (lock `manager:policies`). */
    insert: async (tx: Transaction, policy: NewPolicy) => (await tx.get(INSERT, policy))!,
    setBroadcastedTo: async (tx: Transaction, id: string, count: number) => void (await tx.run(SET_BROADCAST, [count, id])),
    applicableTo: (q: Queryable, agentId: string, orgId: string) => q.get(APPLICABLE, { agentId, orgId }),
    newestGlobal: () => storage.get(NEWEST_GLOBAL),
    newestForOrg: (orgId: string) => storage.get(NEWEST_FOR_ORG, [orgId]),
    removeOverride: async (agentId: string, removedAt: string) => (await storage.run(REMOVE_OVERRIDE, [removedAt, agentId])).changes > 0,
    async history(limit: number, offset: number): Promise<{ rows: PolicyRow[]; total: number }> {
      const rows = await storage.all(HISTORY_PAGE, [limit, offset]);
      return { rows, total: (await storage.get(HISTORY_COUNT))!.n };
    },
    onlineReachOfGlobal: async (q: Queryable, onlineFrom: number) => (await q.get(REACH_OF_GLOBAL, [onlineFrom]))!.n,
    onlineReachOfOrg: async (q: Queryable, orgId: string, onlineFrom: number) => (await q.get(REACH_OF_ORG, [orgId, onlineFrom]))!.n,
  };
}

export type PolicyStore = ReturnType<typeof createPolicyStore>;
