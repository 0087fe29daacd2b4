import { defineStatement } from '../shared/db/storage.js';
import { forbidden } from '../shared/errors.js';
import { QUOTAS, UNLIMITED, quotaExceededMessage, type Tier } from '../shared/tiers.js';
import type { RegistrationHook } from '../manager/services/agents.js';
import { countOrgAgents } from './org-agents.js';

const OWNER_TIER = defineStatement<[userId: string], { tier: Tier }>(`SELECT tier FROM users WHERE id = ?`);

/**
 * An org whose id is an Auth user's id belongs to that user: registering one more agent
 * past the tier's `guard_endpoints` quota is refused. Runs inside the registration
 * transaction (which holds the org's quota lock) and only for new agents, so re-registering
 * a hostname never counts twice and two racing registrations cannot both take the last slot.
 */
export function endpointQuota(): RegistrationHook {
  return async (tx, { orgId }) => {
    const user = await tx.get(OWNER_TIER, [orgId]);
    if (!user) return;
    const limit = QUOTAS[user.tier].guard_endpoints;
    if (limit !== UNLIMITED && (await countOrgAgents(tx, orgId)) >= limit) throw forbidden(quotaExceededMessage('guard_endpoints', user.tier));
  };
}
