import type { Db } from '../../../shared/db/open.js';
import { DAY_MS } from '../../../shared/time.js';

export const CAMPAIGN_STATUSES = ['active', 'dormant', 'resolved'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];
export const SEVERITY_ORDER = ['low', 'medium', 'high', 'critical'] as const;
export type CampaignSeverity = (typeof SEVERITY_ORDER)[number];

/** Last activity at most this old: `active`; up to RESOLVED_AFTER: `dormant`; older: `resolved`. */
export const DORMANT_AFTER_MS = 7 * DAY_MS;
export const RESOLVED_AFTER_MS = 30 * DAY_MS;

export interface GroupRow {
  id: string;
  name: string;
  description: string;
  severity: CampaignSeverity;
  first_seen: string;
  last_activity: string;
  ioc_count: number;
  affected_orgs: number;
  mitre_ids: string;
  tags: string;
  created_at: string;
  formed_at: string | null;
  updated_at: string;
}

export interface Campaign {
  id: string;
  name: string;
  status: CampaignStatus;
  severity: CampaignSeverity;
  firstSeen: string;
  lastActivity: string;
  iocCount: number;
  affectedOrgs: number;
  mitreIds: string[];
  tags: string[];
}

export interface Aggregates {
  severity: CampaignSeverity;
  firstSeen: string;
  lastActivity: string;
  iocCount: number;
  affectedOrgs: number;
  mitreIds: string[];
  tags: string[];
}

export function statusAt(lastActivity: string, nowMs: number): CampaignStatus {
  const age = nowMs - Date.parse(lastActivity);
  if (age <= DORMANT_AFTER_MS) return 'active';
  return age <= RESOLVED_AFTER_MS ? 'dormant' : 'resolved';
}

export function toCampaign(row: GroupRow, nowMs: number): Campaign {
  return {
    id: row.id,
    name: row.name,
    status: statusAt(row.last_activity, nowMs),
    severity: row.severity,
    firstSeen: row.first_seen,
    lastActivity: row.last_activity,
    iocCount: row.ioc_count,
    affectedOrgs: row.affected_orgs,
    mitreIds: JSON.parse(row.mitre_ids) as string[],
    tags: JSON.parse(row.tags) as string[],
  };
}

/**
 * The status filter as a range of `last_activity`, so listing by status uses the index:
 * active ≥ now−7d, dormant in [now−30d, now−7d), resolved < now−30d.
 */
export function activityRange(status: CampaignStatus | undefined, nowMs: number): { from: string | null; before: string | null } {
  const iso = (ms: number) => new Date(ms).toISOString();
  switch (status) {
    case 'active':
      return { from: iso(nowMs - DORMANT_AFTER_MS), before: null };
    case 'dormant':
      return { from: iso(nowMs - RESOLVED_AFTER_MS), before: iso(nowMs - DORMANT_AFTER_MS) };
    case 'resolved':
      return { from: null, before: iso(nowMs - RESOLVED_AFTER_MS) };
    default:
      return { from: null, before: null };
  }
}

/** SQL of groups and campaigns (a group is a campaign once `formed_at` is set); statements prepared once. */
export function createCampaignStore(db: Db) {
  const groupOf = db.prepare<[string], { campaign_id: string }>(`SELECT campaign_id FROM campaign_iocs WHERE ioc_id = ?`);
  const groupById = db.prepare<[string], GroupRow>(`SELECT * FROM campaigns WHERE id = ?`);
  const formedById = db.prepare<[string], GroupRow>(`SELECT * FROM campaigns WHERE id = ? AND formed_at IS NOT NULL`);
  const insertGroup = db.prepare<[string, string, string, string, string]>(
    `INSERT INTO campaigns (id, first_seen, last_activity, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
  );
  const addMember = db.prepare<[string, string, string]>(
    `INSERT INTO campaign_iocs (ioc_id, campaign_id, added_at) VALUES (?, ?, ?) ON CONFLICT (ioc_id) DO NOTHING`,
  );
  const moveMembers = db.prepare<[string, string]>(`UPDATE campaign_iocs SET campaign_id = ? WHERE campaign_id = ?`);
  const moveEvents = db.prepare<[string, string]>(`UPDATE campaign_events SET campaign_id = ? WHERE campaign_id = ?`);
  const deleteGroup = db.prepare<[string]>(`DELETE FROM campaigns WHERE id = ?`);
  const memberCount = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM campaign_iocs WHERE campaign_id = ?`);
  const setCount = db.prepare<[number, string]>(`UPDATE campaigns SET ioc_count = ? WHERE id = ?`);
  const formStmt = db.prepare<[string, string, string]>(`UPDATE campaigns SET formed_at = ?, name = ? WHERE id = ?`);
  const addEvent = db.prepare<[string, string, string, string]>(
    `INSERT INTO campaign_events (campaign_id, at, event, details) VALUES (?, ?, ?, ?)`,
  );

  const memberFacts = db.prepare<[string], { n: number; first_seen: string; last_activity: string; severity: number }>(
    `SELECT count(*) AS n, min(i.first_seen) AS first_seen, max(i.last_seen) AS last_activity,
       max(CASE i.severity WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END) AS severity
     FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ?`,
  );
  const reporterCount = db.prepare<[string], { n: number }>(
    `SELECT count(DISTINCT r.reporter_id) AS n FROM campaign_iocs c JOIN ioc_reporters r ON r.ioc_id = c.ioc_id WHERE c.campaign_id = ?`,
  );
  const techniques = db.prepare<[string], string>(
    `SELECT DISTINCT t.technique_id FROM campaign_iocs c JOIN ioc_techniques t ON t.ioc_id = c.ioc_id
     WHERE c.campaign_id = ? ORDER BY t.technique_id`,
  ).pluck();
  const categories = db.prepare<[string], string>(
    `SELECT i.category FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.category IS NOT NULL GROUP BY i.category ORDER BY count(*) DESC, i.category`,
  ).pluck();
  const honeypotTypes = db.prepare<[string], string>(
    `SELECT DISTINCT e.honeypot_type FROM campaign_iocs c JOIN trap_events e ON e.attacker_ioc_id = c.ioc_id
     WHERE c.campaign_id = ? ORDER BY e.honeypot_type`,
  ).pluck();
  const byType = db.prepare<[string], { type: string; n: number }>(
    `SELECT i.type, count(*) AS n FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ? GROUP BY i.type ORDER BY i.type`,
  );
  const firstMember = db.prepare<[string], { value: string }>(
    `SELECT i.value FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ? ORDER BY i.first_seen, i.value LIMIT 1`,
  );
  const commonBlock = db.prepare<[string], { block: string; n: number }>(
    `SELECT b.block, count(*) AS n FROM campaign_iocs c JOIN ioc_netblocks b ON b.ioc_id = c.ioc_id
     WHERE c.campaign_id = ? GROUP BY b.block ORDER BY n DESC, b.block LIMIT 1`,
  );
  const writeAggregates = db.prepare(
    `UPDATE campaigns SET severity = @severity, first_seen = @firstSeen, last_activity = @lastActivity, ioc_count = @iocCount,
       affected_orgs = @affectedOrgs, mitre_ids = @mitreIds, tags = @tags, description = @description, updated_at = @updatedAt
     WHERE id = @id`,
  );
  const clearTechniques = db.prepare<[string]>(`DELETE FROM campaign_techniques WHERE campaign_id = ?`);
  const addTechnique = db.prepare<[string, string]>(`INSERT INTO campaign_techniques (campaign_id, technique_id) VALUES (?, ?) ON CONFLICT (campaign_id, technique_id) DO NOTHING`);

  return {
    groupOf(iocId: string): string | null {
      return groupOf.get(iocId)?.campaign_id ?? null;
    },
    group(id: string): GroupRow | undefined {
      return groupById.get(id);
    },
    /** A formed campaign, or undefined (unknown id, or a group still below 3 IoCs). */
    campaign(id: string): GroupRow | undefined {
      return formedById.get(id);
    },
    createGroup(id: string, atIso: string): void {
      insertGroup.run(id, atIso, atIso, atIso, atIso);
    },
    addMember(groupId: string, iocId: string, atIso: string): boolean {
      return addMember.run(iocId, groupId, atIso).changes === 1;
    },
    /** Moves every member and event of `loserId` into `survivorId`, then drops the loser. */
    absorb(survivorId: string, loserId: string): void {
      moveMembers.run(survivorId, loserId);
      moveEvents.run(survivorId, loserId);
      deleteGroup.run(loserId);
    },
    recount(groupId: string): number {
      const n = memberCount.get(groupId)!.n;
      setCount.run(n, groupId);
      return n;
    },
    form(groupId: string, name: string, atIso: string): void {
      formStmt.run(atIso, name, groupId);
    },
    addEvent(groupId: string, atIso: string, event: string, details: string): void {
      addEvent.run(groupId, atIso, event, details);
    },
    /** What the name is made of: dominant category, shared network block, earliest member. */
    nameFacts(groupId: string): { category: string | null; block: { block: string; n: number } | undefined; firstValue: string } {
      return {
        category: categories.all(groupId)[0] ?? null,
        block: commonBlock.get(groupId),
        firstValue: firstMember.get(groupId)?.value ?? groupId,
      };
    },
    /** Every aggregate of the list view, computed in SQL over the members. */
    aggregates(groupId: string): Aggregates & { categories: string[]; honeypotTypes: string[]; byType: Record<string, number> } {
      const facts = memberFacts.get(groupId)!;
      const cats = categories.all(groupId);
      const honeypots = honeypotTypes.all(groupId);
      return {
        severity: SEVERITY_ORDER[facts.severity ?? 0] ?? 'low',
        firstSeen: facts.first_seen,
        lastActivity: facts.last_activity,
        iocCount: facts.n,
        affectedOrgs: reporterCount.get(groupId)!.n,
        mitreIds: techniques.all(groupId),
        tags: [...new Set([...cats, ...honeypots])].sort(),
        categories: cats,
        honeypotTypes: honeypots,
        byType: Object.fromEntries(byType.all(groupId).map((row) => [row.type, row.n])),
      };
    },
    writeAggregates(groupId: string, aggregates: Aggregates, description: string, updatedAt: string): void {
      writeAggregates.run({
        id: groupId,
        severity: aggregates.severity,
        firstSeen: aggregates.firstSeen,
        lastActivity: aggregates.lastActivity,
        iocCount: aggregates.iocCount,
        affectedOrgs: aggregates.affectedOrgs,
        mitreIds: JSON.stringify(aggregates.mitreIds),
        tags: JSON.stringify(aggregates.tags),
        description,
        updatedAt,
      });
      clearTechniques.run(groupId);
      for (const technique of aggregates.mitreIds) addTechnique.run(groupId, technique);
    },
  };
}
export type CampaignStore = ReturnType<typeof createCampaignStore>;
