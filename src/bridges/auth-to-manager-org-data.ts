import type { OrgData } from '../auth/ports.js';
import type { EventRow as ManagerEventRow } from '../manager/stores/events.js';
import { createThreatCountStore, THREAT_COUNTS_LOCK } from '../manager/stores/threat-counts.js';
import { defineStatement, type Storage } from '../shared/db/storage.js';
import { countOrgAgents } from './org-agents.js';

type AgentRow = {
  id: string;
  hostname: string;
  os: string;
  version: string;
  ip: string;
  tags: string;
  status: string;
  registered_at: string;
  status_changed_at: string;
  policy_version: string | null;
};

/** A Manager event as exported: the Manager's own row without its index-only columns. */
type EventRow = Omit<ManagerEventRow, 'org_id' | 'timestamp_ms'>;

interface PolicyRow {
  id: string;
  agent_id: string | null;
  version: number;
  name: string;
  description: string | null;
  rules: string;
  created_at: string;
  removed_at: string | null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const AGENTS = defineStatement<[orgId: string], AgentRow>(
  `SELECT id, hostname, os, version, ip, tags, status, registered_at, status_changed_at, policy_version
     FROM agents WHERE org_id = ? ORDER BY registered_at, id`,
);
const EVENTS = defineStatement<[orgId: string], EventRow>(
  `SELECT id, agent_id, hostname, type, severity, confidence, rule_id, details, source_ip, timestamp, received_at
     FROM threat_events WHERE org_id = ? ORDER BY timestamp_ms, seq`,
);
const ORG_POLICIES = `org_id = @orgId OR agent_id IN (SELECT id FROM agents WHERE org_id = @orgId)`;
const POLICIES = defineStatement<{ orgId: string }, PolicyRow>(
  `SELECT id, agent_id, version, name, description, rules, created_at, removed_at FROM policies WHERE ${ORG_POLICIES} ORDER BY version`,
);
const DELETE_POLICIES = defineStatement<{ orgId: string }>(`DELETE FROM policies WHERE ${ORG_POLICIES}`);
const DELETE_EVENTS = defineStatement<[orgId: string]>(`DELETE FROM threat_events WHERE org_id = ?`);
const DELETE_AGENTS = defineStatement<[orgId: string]>(`DELETE FROM agents WHERE org_id = ?`);

/**
 * The Manager rows of a user's organisation (org id = user id): agents, their threat
 * events and policies. Counted for the guard_endpoints quota, exported for GDPR and
 * deleted with the account. Agent tokens (their hashes) are never exported.
 */
export function createOrgData(storage: Storage): OrgData {
  const threatCounts = createThreatCountStore(storage);

  return {
    countAgents: (orgId) => countOrgAgents(storage, orgId),
    async exportOf(orgId) {
      const agents = await storage.all(AGENTS, [orgId]);
      const events = await storage.all(EVENTS, [orgId]);
      const policies = await storage.all(POLICIES, { orgId });
      return {
        agents: agents.map((a) => ({
          id: a.id,
          hostname: a.hostname,
          os: a.os,
          version: a.version,
          ip: a.ip,
          tags: parseJson(a.tags),
          status: a.status,
          registeredAt: a.registered_at,
          statusChangedAt: a.status_changed_at,
          policyVersion: a.policy_version,
        })),
        threatEvents: events.map((e) => ({
          id: e.id,
          agentId: e.agent_id,
          hostname: e.hostname,
          type: e.type,
          severity: e.severity,
          confidence: e.confidence,
          ruleId: e.rule_id,
          details: parseJson(e.details),
          sourceIp: e.source_ip,
          timestamp: e.timestamp,
          receivedAt: e.received_at,
        })),
        policies: policies.map((p) => ({
          id: p.id,
          agentId: p.agent_id,
          version: p.version,
          name: p.name,
          description: p.description,
          rules: parseJson(p.rules),
          createdAt: p.created_at,
          removedAt: p.removed_at,
        })),
      };
    },
    // The threat counts are read, then written.
    deleteLocks: [THREAT_COUNTS_LOCK],
    /** Policies first: they name agents. In a transaction holding `deleteLocks`. */
    async deleteOf(tx, orgId) {
      await tx.run(DELETE_POLICIES, { orgId });
      await tx.run(DELETE_EVENTS, [orgId]);
      await threatCounts.forgetOrg(tx, orgId);
      await tx.run(DELETE_AGENTS, [orgId]);
    },
  };
}
