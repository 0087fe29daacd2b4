import type { Db } from '../shared/db/open.js';

/**
 * How many agents an org has registered now: one statement for both directions, the
 * Manager's guard_endpoints quota and the Auth Server's usage report.
 */
export function createOrgAgentCount(db: Db): (orgId: string) => number {
  const agentsOf = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM agents WHERE org_id = ?`);
  return (orgId) => agentsOf.get(orgId)!.n;
}
