/**
 * What the Auth Server needs from the other services, declared here so it never imports
 * them: `src/servers.ts` passes implementations from `src/bridges/`. An Auth app built alone
 * (tests, the OpenAPI generator) gets `NO_ORG_DATA` and `NO_IP_REPUTATION`.
 */
import type { Transaction } from '../shared/db/storage.js';

/** The Manager records of an organisation as the GDPR export shows them. */
export interface OrgDataExport {
  agents: unknown[];
  threatEvents: unknown[];
  policies: unknown[];
}

/** The Manager rows of a user's organisation (org id = user id). */
export interface OrgData {
  /** Current (registered, not deregistered) agents: the guard_endpoints usage. */
  countAgents(orgId: string): Promise<number>;
  /** Agents, threat events and policies for the GDPR export; no secrets. */
  exportOf(orgId: string): Promise<OrgDataExport>;
  /** Runs inside the account-deletion transaction, through its handle. */
  deleteOf(tx: Transaction, orgId: string): Promise<void>;
  /** Locks the account-deletion transaction takes for `deleteOf` (its read-then-writes). */
  readonly deleteLocks: readonly string[];
}

/** The Threat Cloud's verdict on a login's client address. */
export interface IpReputation {
  /** True when the address is an active IoC with reputation low enough to refuse a login. */
  isMalicious(ip: string): Promise<boolean>;
}

/** No Manager beside this app: no agents to count, export or delete. */
export const NO_ORG_DATA: OrgData = {
  deleteLocks: [],
  countAgents: async () => 0,
  exportOf: async () => ({ agents: [], threatEvents: [], policies: [] }),
  deleteOf: async () => {},
};

/** No Threat Cloud beside this app: no address is known to be malicious. */
export const NO_IP_REPUTATION: IpReputation = { isMalicious: async () => false };
