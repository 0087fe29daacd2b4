import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Queryable, Storage } from '../../shared/db/storage.js';
import { notFound } from '../../shared/errors.js';
import { newId } from '../../shared/tokens.js';
import type { AgentRow } from '../stores/agents.js';
import { policyVersionName } from './agents.js';
import type { NewPolicy, PolicyRow, PolicyStore } from '../stores/policies.js';
import type { AgentPolicy, Policy, PolicyBody, Rule, RuleInput } from '../schemas.js';
import type { SseHub } from './sse-hub.js';
import { statusAt, type StatusTimeouts } from './status.js';

export function toPolicy(row: PolicyRow): Policy {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    version: policyVersionName(row.version),
    orgId: row.org_id,
    agentId: row.agent_id,
    rules: JSON.parse(row.rules) as Rule[],
    broadcastedTo: row.broadcasted_to,
    createdAt: row.created_at,
  };
}

/** Every transaction that takes the next policy version. */
export const POLICIES_LOCK = 'manager:policies';

const normaliseRules = (rules: RuleInput[]): Rule[] =>
  rules.map((rule) => ({ type: rule.type, config: rule.config, enabled: rule.enabled ?? true }));

/**
 * Policies: global, per org and per agent override, versioned by one shared counter.
 * Agents learn of a new policy through `pendingPolicies` and pull it; nothing is pushed.
 */
export function createPolicyService(deps: { storage: Storage; clock: Clock; timeouts: StatusTimeouts; policies: PolicyStore; hub: SseHub }) {
  const { storage, clock, timeouts, policies, hub } = deps;

  // Versions come from the newest one: taking the next and inserting it must not interleave.
  const insertWithReach = (policy: NewPolicy, reach: (q: Queryable, onlineFrom: number) => Promise<number>) =>
    storage.transaction({ durable: false, locks: [POLICIES_LOCK] }, async (tx) => {
      const row = await policies.insert(tx, policy);
      const broadcastedTo = await reach(tx, clock.now() - timeouts.heartbeatTimeoutMs + 1);
      await policies.setBroadcastedTo(tx, row.id, broadcastedTo);
      return { ...row, broadcasted_to: broadcastedTo };
    });

  /** After the commit: the stream announces only what is stored. */
  const announce = async (row: PolicyRow) => {
    const rules = JSON.parse(row.rules) as unknown[];
    await hub.publish('policy_created', { policyId: row.id, version: policyVersionName(row.version), ruleCount: rules.length });
  };

  const agentView = async (agent: AgentRow): Promise<AgentPolicy> => {
    const row = await policies.applicableTo(storage, agent.id, agent.org_id);
    return {
      agentId: agent.id,
      policyVersion: row ? policyVersionName(row.version) : null,
      rules: row ? (JSON.parse(row.rules) as Rule[]) : [],
      appliedAt: row ? row.created_at : null,
    };
  };

  return {
    async create(body: PolicyBody): Promise<Policy> {
      const orgId = body.org_id ?? null;
      const row = await insertWithReach(
        {
          id: newId('pol_'),
          orgId,
          agentId: null,
          name: body.name,
          description: body.description ?? null,
          rules: JSON.stringify(normaliseRules(body.rules)),
          createdAt: toIso(clock.now()),
        },
        orgId === null ? (q, onlineFrom) => policies.onlineReachOfGlobal(q, onlineFrom) : (q, onlineFrom) => policies.onlineReachOfOrg(q, orgId, onlineFrom),
      );
      await announce(row);
      return toPolicy(row);
    },

    /** Without an org: the newest global policy; with one: what an agent of that org gets. */
    async active(orgId?: string): Promise<Policy | null> {
      const row = orgId === undefined ? await policies.newestGlobal() : await policies.newestForOrg(orgId);
      return row ? toPolicy(row) : null;
    },

    forAgent: agentView,

    async setOverride(agent: AgentRow, rules: RuleInput[]): Promise<Policy> {
      const online = statusAt(agent.last_heartbeat_ms, clock.now(), timeouts) === 'online';
      const row = await insertWithReach(
        {
          id: newId('pol_'),
          orgId: agent.org_id,
          agentId: agent.id,
          name: `Override for ${agent.hostname}`,
          description: null,
          rules: JSON.stringify(normaliseRules(rules)),
          createdAt: toIso(clock.now()),
        },
        async () => (online ? 1 : 0),
      );
      await announce(row);
      return toPolicy(row);
    },

    async removeOverride(agent: AgentRow): Promise<void> {
      if (!(await policies.removeOverride(agent.id, toIso(clock.now())))) {
        throw notFound('No policy override for this agent', 'OVERRIDE_NOT_FOUND');
      }
    },

    async history(page: number, limit: number) {
      const { rows, total } = await policies.history(limit, (page - 1) * limit);
      return { items: rows.map(toPolicy), total };
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
