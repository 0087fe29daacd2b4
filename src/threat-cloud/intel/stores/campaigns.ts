import type { Db } from '../../../shared/db/open.js';
import { defineStatement, type Queryable, type Statement } from '../../../shared/db/storage.js';
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

/*
 * The statements of groups and campaigns (a group is a campaign once `formed_at` is set),
 * declared once.
 */
const GROUP_OF = defineStatement<[string], { campaign_id: string }>(`SELECT campaign_id FROM campaign_iocs WHERE ioc_id = ?`);
const GROUP_BY_ID = defineStatement<[string], GroupRow>(`SELECT * FROM campaigns WHERE id = ?`);
const FORMED_BY_ID = defineStatement<[string], GroupRow>(`SELECT * FROM campaigns WHERE id = ? AND formed_at IS NOT NULL`);
const INSERT_GROUP = defineStatement<[string, string, string, string, string]>(
  `INSERT INTO campaigns (id, first_seen, last_activity, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
);
const ADD_MEMBER = defineStatement<[string, string, string]>(
  `INSERT INTO campaign_iocs (ioc_id, campaign_id, added_at) VALUES (?, ?, ?) ON CONFLICT (ioc_id) DO NOTHING`,
);
const MOVE_MEMBERS = defineStatement<[string, string]>(`UPDATE campaign_iocs SET campaign_id = ? WHERE campaign_id = ?`);
const MOVE_EVENTS = defineStatement<[string, string]>(`UPDATE campaign_events SET campaign_id = ? WHERE campaign_id = ?`);
const DELETE_GROUP = defineStatement<[string]>(`DELETE FROM campaigns WHERE id = ?`);
const MEMBER_COUNT = defineStatement<[string], { n: number }>(`SELECT count(*) AS n FROM campaign_iocs WHERE campaign_id = ?`);
const SET_COUNT = defineStatement<[number, string]>(`UPDATE campaigns SET ioc_count = ? WHERE id = ?`);
const FORM = defineStatement<[string, string, string]>(`UPDATE campaigns SET formed_at = ?, name = ? WHERE id = ?`);
const ADD_EVENT = defineStatement<[string, string, string, string]>(
  `INSERT INTO campaign_events (campaign_id, at, event, details) VALUES (?, ?, ?, ?)`,
);

type MemberFacts = { n: number; first_seen: string; last_activity: string; severity: number };
const MEMBER_FACTS = defineStatement<[string], MemberFacts>(
  `SELECT count(*) AS n, min(i.first_seen) AS first_seen, max(i.last_seen) AS last_activity,
       max(CASE i.severity WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END) AS severity
     FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ?`,
);
const REPORTER_COUNT = defineStatement<[string], { n: number }>(
  `SELECT count(DISTINCT r.reporter_id) AS n FROM campaign_iocs c JOIN ioc_reporters r ON r.ioc_id = c.ioc_id WHERE c.campaign_id = ?`,
);
const TECHNIQUES = defineStatement<[string], { technique_id: string }>(
  `SELECT DISTINCT t.technique_id FROM campaign_iocs c JOIN ioc_techniques t ON t.ioc_id = c.ioc_id
     WHERE c.campaign_id = ? ORDER BY t.technique_id`,
);
const CATEGORIES = defineStatement<[string], { category: string }>(
  `SELECT i.category FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.category IS NOT NULL GROUP BY i.category ORDER BY count(*) DESC, i.category`,
);
const HONEYPOT_TYPES = defineStatement<[string], { honeypot_type: string }>(
  `SELECT DISTINCT e.honeypot_type FROM campaign_iocs c JOIN trap_events e ON e.attacker_ioc_id = c.ioc_id
     WHERE c.campaign_id = ? ORDER BY e.honeypot_type`,
);
const BY_TYPE = defineStatement<[string], { type: string; n: number }>(
  `SELECT i.type, count(*) AS n FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ? GROUP BY i.type ORDER BY i.type`,
);
const FIRST_MEMBER = defineStatement<[string], { value: string }>(
  `SELECT i.value FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ? ORDER BY i.first_seen, i.value LIMIT 1`,
);
const COMMON_BLOCK = defineStatement<[string], { block: string; n: number }>(
  `SELECT b.block, count(*) AS n FROM campaign_iocs c JOIN ioc_netblocks b ON b.ioc_id = c.ioc_id
     WHERE c.campaign_id = ? GROUP BY b.block ORDER BY n DESC, b.block LIMIT 1`,
);
type AggregateRow = {
  id: string;
  severity: CampaignSeverity;
  firstSeen: string;
  lastActivity: string;
  iocCount: number;
  affectedOrgs: number;
  mitreIds: string;
  tags: string;
  description: string;
  updatedAt: string;
};
const WRITE_AGGREGATES = defineStatement<AggregateRow>(
  `UPDATE campaigns SET severity = @severity, first_seen = @firstSeen, last_activity = @lastActivity, ioc_count = @iocCount,
       affected_orgs = @affectedOrgs, mitre_ids = @mitreIds, tags = @tags, description = @description, updated_at = @updatedAt
     WHERE id = @id`,
);
const CLEAR_TECHNIQUES = defineStatement<[string]>(`DELETE FROM campaign_techniques WHERE campaign_id = ?`);
const ADD_TECHNIQUE = defineStatement<[string, string]>(
  `INSERT INTO campaign_techniques (campaign_id, technique_id) VALUES (?, ?) ON CONFLICT (campaign_id, technique_id) DO NOTHING`,
);

export type FullAggregates = Aggregates & { categories: string[]; honeypotTypes: string[]; byType: Record<string, number> };

/** The aggregates out of their parts, the same however the parts were read. */
function aggregatesOf(parts: {
  facts: MemberFacts;
  reporters: number;
  techniques: string[];
  categories: string[];
  honeypotTypes: string[];
  byType: Array<{ type: string; n: number }>;
}): FullAggregates {
  const { facts, categories, honeypotTypes } = parts;
  return {
    severity: SEVERITY_ORDER[facts.severity ?? 0] ?? 'low',
    firstSeen: facts.first_seen,
    lastActivity: facts.last_activity,
    iocCount: facts.n,
    affectedOrgs: parts.reporters,
    mitreIds: parts.techniques,
    tags: [...new Set([...categories, ...honeypotTypes])].sort(),
    categories,
    honeypotTypes,
    byType: Object.fromEntries(parts.byType.map((row) => [row.type, row.n])),
  };
}

function aggregateRow(groupId: string, aggregates: Aggregates, description: string, updatedAt: string): AggregateRow {
  return {
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
  };
}

/**
 * Groups and campaigns through the storage port. The correlation changes them only inside a
 * transaction holding CAMPAIGNS_LOCK, so every method takes the caller's Queryable first.
 */
export const campaignGroups = {
  async groupOf(q: Queryable, iocId: string): Promise<string | null> {
    return (await q.get(GROUP_OF, [iocId]))?.campaign_id ?? null;
  },
  group(q: Queryable, id: string): Promise<GroupRow | undefined> {
    return q.get(GROUP_BY_ID, [id]);
  },
  /** A formed campaign, or undefined (unknown id, or a group still below 3 IoCs). */
  campaign(q: Queryable, id: string): Promise<GroupRow | undefined> {
    return q.get(FORMED_BY_ID, [id]);
  },
  async createGroup(q: Queryable, id: string, atIso: string): Promise<void> {
    await q.run(INSERT_GROUP, [id, atIso, atIso, atIso, atIso]);
  },
  async addMember(q: Queryable, groupId: string, iocId: string, atIso: string): Promise<boolean> {
    return (await q.run(ADD_MEMBER, [iocId, groupId, atIso])).changes === 1;
  },
  /** Moves every member and event of `loserId` into `survivorId`, then drops the loser. */
  async absorb(q: Queryable, survivorId: string, loserId: string): Promise<void> {
    await q.run(MOVE_MEMBERS, [survivorId, loserId]);
    await q.run(MOVE_EVENTS, [survivorId, loserId]);
    await q.run(DELETE_GROUP, [loserId]);
  },
  async recount(q: Queryable, groupId: string): Promise<number> {
    const n = (await q.get(MEMBER_COUNT, [groupId]))!.n;
    await q.run(SET_COUNT, [n, groupId]);
    return n;
  },
  async form(q: Queryable, groupId: string, name: string, atIso: string): Promise<void> {
    await q.run(FORM, [atIso, name, groupId]);
  },
  async addEvent(q: Queryable, groupId: string, atIso: string, event: string, details: string): Promise<void> {
    await q.run(ADD_EVENT, [groupId, atIso, event, details]);
  },
  /** What the name is made of: dominant category, shared network block, earliest member. */
  async nameFacts(q: Queryable, groupId: string): Promise<{ category: string | null; block: { block: string; n: number } | undefined; firstValue: string }> {
    const categories = await q.all(CATEGORIES, [groupId]);
    const block = await q.get(COMMON_BLOCK, [groupId]);
    const first = await q.get(FIRST_MEMBER, [groupId]);
    return { category: categories[0]?.category ?? null, block, firstValue: first?.value ?? groupId };
  },
  /** Every aggregate of the list view, computed in SQL over the members. */
  async aggregates(q: Queryable, groupId: string): Promise<FullAggregates> {
    const facts = (await q.get(MEMBER_FACTS, [groupId]))!;
    const categories = (await q.all(CATEGORIES, [groupId])).map((row) => row.category);
    const honeypotTypes = (await q.all(HONEYPOT_TYPES, [groupId])).map((row) => row.honeypot_type);
    const reporters = (await q.get(REPORTER_COUNT, [groupId]))!.n;
    const techniques = (await q.all(TECHNIQUES, [groupId])).map((row) => row.technique_id);
    const byType = await q.all(BY_TYPE, [groupId]);
    return aggregatesOf({ facts, reporters, techniques, categories, honeypotTypes, byType });
  },
  async writeAggregates(q: Queryable, groupId: string, aggregates: Aggregates, description: string, updatedAt: string): Promise<void> {
    await q.run(WRITE_AGGREGATES, aggregateRow(groupId, aggregates, description, updatedAt));
    await q.run(CLEAR_TECHNIQUES, [groupId]);
    for (const technique of aggregates.mitreIds) await q.run(ADD_TECHNIQUE, [groupId, technique]);
  },
};
export type CampaignGroups = typeof campaignGroups;

/**
 * The campaign aggregates for a schema migration: migrations run in their own synchronous
 * transaction on the connection, before any storage port exists, so this view prepares the
 * same statements on the connection directly.
 */
export function createCampaignStore(db: Db) {
  const prepared = <P extends unknown[], Row>(statement: Statement<P, Row>) => db.prepare<P, Row>(statement.sql);
  const formedById = prepared(FORMED_BY_ID);
  const memberFacts = prepared(MEMBER_FACTS);
  const reporterCount = prepared(REPORTER_COUNT);
  const techniques = prepared(TECHNIQUES);
  const categories = prepared(CATEGORIES);
  const honeypotTypes = prepared(HONEYPOT_TYPES);
  const byType = prepared(BY_TYPE);
  const writeAggregates = db.prepare<[AggregateRow]>(WRITE_AGGREGATES.sql);
  const clearTechniques = prepared(CLEAR_TECHNIQUES);
  const addTechnique = prepared(ADD_TECHNIQUE);

  return {
    /** A formed campaign, or undefined. */
    campaign(id: string): GroupRow | undefined {
      return formedById.get(id);
    },
    aggregates(groupId: string): FullAggregates {
      return aggregatesOf({
        facts: memberFacts.get(groupId)!,
        reporters: reporterCount.get(groupId)!.n,
        techniques: techniques.all(groupId).map((row) => row.technique_id),
        categories: categories.all(groupId).map((row) => row.category),
        honeypotTypes: honeypotTypes.all(groupId).map((row) => row.honeypot_type),
        byType: byType.all(groupId),
      });
    },
    writeAggregates(groupId: string, aggregates: Aggregates, description: string, updatedAt: string): void {
      writeAggregates.run(aggregateRow(groupId, aggregates, description, updatedAt));
      clearTechniques.run(groupId);
      for (const technique of aggregates.mitreIds) addTechnique.run(groupId, technique);
    },
  };
}
export type CampaignStore = ReturnType<typeof createCampaignStore>;
