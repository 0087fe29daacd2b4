import { defineStatement, type Queryable } from '../shared/db/storage.js';

const AGENTS_OF = defineStatement<[orgId: string], { n: number }>(`SELECT count(*) AS n FROM agents WHERE org_id = ?`);

/**
 * How many agents an org has registered now: one statement for both directions, the
 * Manager's guard_endpoints quota (inside its registration transaction) and the Auth
 * Server's usage report.
 */
export async function countOrgAgents(q: Queryable, orgId: string): Promise<number> {
  return (await q.get(AGENTS_OF, [orgId]))!.n;
}
