import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { notFound } from '../../shared/errors.js';
import { newId } from '../../shared/tokens.js';
import type { AgentRow } from '../stores/agents.js';
import { policyVersionName } from './agents.js';
import type { PolicyRow, PolicyStore } from '../stores/policies.js';
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

const normaliseRules = (rules: RuleInput[]): Rule[] =>
  rules.map((rule) => ({ type: rule.type, config: rule.config, enabled: rule.enabled ?? true }));

/**
 * Policies: global, per org and per agent override, versioned by one shared counter.
 * Agents learn of a new policy through `pendingPolicies` and pull it; nothing is pushed.
 */
export function createPolicyService(deps: { db: Db; clock: Clock; timeouts: StatusTimeouts; policies: PolicyStore; hub: SseHub }) {
  const { db, clock, timeouts, policies, hub } = deps;

  const insertWithReach = db.transaction((policy: Parameters<PolicyStore['insert']>[0], reach: (onlineFrom: number) => number) => {
    const row = policies.insert(policy);
    const broadcastedTo = reach(clock.now() - timeouts.heartbeatTimeoutMs + 1);
    policies.setBroadcastedTo(row.id, broadcastedTo);
    return { ...row, broadcasted_to: broadcastedTo };
  });

  const announce = (row: PolicyRow) => {
    const rules = JSON.parse(row.rules) as unknown[];
    hub.publish('policy_created', { policyId: row.id, version: policyVersionName(row.version), ruleCount: rules.length });
  };

  const agentView = (agent: AgentRow): AgentPolicy => {
    const row = policies.applicableTo(agent.id, agent.org_id);
    return {
      agentId: agent.id,
      policyVersion: row ? policyVersionName(row.version) : null,
      rules: row ? (JSON.parse(row.rules) as Rule[]) : [],
      appliedAt: row ? row.created_at : null,
    };
  };

  return {
    create(body: PolicyBody): Policy {
      const orgId = body.org_id ?? null;
      const row = insertWithReach(
        {
          id: newId('pol_'),
          orgId,
          agentId: null,
          name: body.name,
          description: body.description ?? null,
          rules: JSON.stringify(normaliseRules(body.rules)),
          createdAt: toIso(clock.now()),
        },
        orgId === null ? (onlineFrom) => policies.onlineReachOfGlobal(onlineFrom) : (onlineFrom) => policies.onlineReachOfOrg(orgId, onlineFrom),
      );
      announce(row);
      return toPolicy(row);
    },

    /** Without an org: the newest global policy; with one: what an agent of that org gets. */
    active(orgId?: string): Policy | null {
      const row = orgId === undefined ? policies.newestGlobal() : policies.newestForOrg(orgId);
      return row ? toPolicy(row) : null;
    },

    forAgent: agentView,

    setOverride(agent: AgentRow, rules: RuleInput[]): Policy {
      const online = statusAt(agent.last_heartbeat_ms, clock.now(), timeouts) === 'online';
      const row = insertWithReach(
        {
          id: newId('pol_'),
          orgId: agent.org_id,
          agentId: agent.id,
          name: `Override for ${agent.hostname}`,
          description: null,
          rules: JSON.stringify(normaliseRules(rules)),
          createdAt: toIso(clock.now()),
        },
        () => (online ? 1 : 0),
      );
      announce(row);
      return toPolicy(row);
    },

    removeOverride(agent: AgentRow): void {
      if (!policies.removeOverride(agent.id, toIso(clock.now()))) {
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
