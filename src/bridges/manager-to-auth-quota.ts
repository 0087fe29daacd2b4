import type { Db } from '../shared/db/open.js';
import { forbidden } from '../shared/errors.js';
import { QUOTAS, UNLIMITED, quotaExceededMessage, type Tier } from '../shared/tiers.js';
import type { RegistrationHook } from '../manager/services/agents.js';
import { createOrgAgentCount } from './org-agents.js';

/**
 * An org whose id is an Auth user's id belongs to that user: registering one more agent
 * past the tier's `guard_endpoints` quota is refused. Runs inside the registration
 * transaction and only for new agents, so re-registering a hostname never counts twice and
 * two racing registrations cannot both take the last slot.
 */
export function endpointQuota(db: Db): RegistrationHook {
  const owner = db.prepare<[string], { tier: Tier }>(`SELECT tier FROM users WHERE id = ?`);
  const agentsOf = createOrgAgentCount(db);
  return ({ orgId }) => {
    const user = owner.get(orgId);
    if (!user) return;
    const limit = QUOTAS[user.tier].guard_endpoints;
    if (limit !== UNLIMITED && agentsOf(orgId) >= limit) throw forbidden(quotaExceededMessage('guard_endpoints', user.tier));
  };
}
