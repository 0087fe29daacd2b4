import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import { defineStatement, type Queryable } from '../../../shared/db/storage.js';
import {
  DORMANT_AFTER_MS,
  RESOLVED_AFTER_MS,
  SEVERITY_ORDER,
  activityRange,
  toCampaign,
  type Campaign,
  type CampaignSeverity,
  type CampaignStatus,
  type GroupRow,
} from './campaigns.js';
import { campaignRecommendations } from '../campaign-text.js';
import type { MitreCatalog } from '../mitre.js';

/** How many members the detail view lists per type, and how many timeline entries. */
const TOP_MEMBERS = 10;
const TIMELINE_EVENTS = 100;
const TOP_TECHNIQUES = 10;

/**
 * The countries a campaign's members name as `metadata.targetCountry` (a string, or strings in
 * an array or object), upper-cased. SQLite's upper() folds ASCII letters only, so PostgreSQL
 * folds with the baseline's ascii_upper() rather than its locale-dependent upper(); json_strings_at() is the
 * baseline's counterpart of the json_each read, skipping text that is not JSON as json_valid does.
 */
export const TARGET_COUNTRIES = defineStatement<[campaignId: string], { country: string }>({
  sqlite: `SELECT DISTINCT upper(j.value) AS country FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id,
       json_each(CASE WHEN json_valid(i.metadata) THEN i.metadata ELSE '{}' END, '$.targetCountry') j
     WHERE c.campaign_id = ? AND j.type = 'text' ORDER BY 1`,
  postgres: `SELECT DISTINCT ascii_upper(j.value) AS country
     FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id, json_strings_at(i.metadata, 'targetCountry') AS j (value)
     WHERE c.campaign_id = ? ORDER BY 1`,
});

export interface CampaignDetail extends Campaign {
  description: string;
  iocs: {
    total: number;
    byType: Record<string, number>;
    topIps: Array<{ value: string; sightings: number; reputation: number }>;
    topDomains: Array<{ value: string; sightings: number; reputation: number }>;
  };
  timeline: Array<{ date: string; event: string; details: string }>;
  geography: { sourceCountries: string[]; targetCountries: string[] };
  recommendations: string[];
}

export interface CampaignStats {
  totalCampaigns: number;
  activeCampaigns: number;
  dormantCampaigns: number;
  resolvedCampaigns: number;
  bySeverity: Record<CampaignSeverity, number>;
  topMitreTechniques: Array<{ id: string; name: string; campaigns: number }>;
  avgIocsPerCampaign: number;
  totalAffectedOrgs: number;
}

type ListWhere = {
  from: string | null;
  before: string | null;
  since: string | null;
};

// Always a last_activity range (status, or everything) and an updated_at bound, so one
// statement walks `campaigns_listing` (migration 10) in the list's order and checks `since`
// from the index: a page stops after offset + limit entries, a count reads the index alone.
const LIST_WHERE = `formed_at IS NOT NULL
  AND last_activity >= coalesce(@from, '') AND last_activity < coalesce(@before, '~')
  AND updated_at > coalesce(@since, '')`;
// From indexes and the trigger-kept counts of migration 10, never from the members.
const FORMED = `formed_at IS NOT NULL AND last_activity`;

/** The campaign API's statements, each an indexed read (the query-plan test checks every one). */
export const CAMPAIGN_READS = {
  list: defineStatement<ListWhere & { limit: number; offset: number }, GroupRow>(
    `SELECT * FROM campaigns INDEXED BY campaigns_listing WHERE ${LIST_WHERE} ORDER BY last_activity DESC, id LIMIT @limit OFFSET @offset`,
  ),
  count: defineStatement<ListWhere, { n: number }>(`SELECT count(*) AS n FROM campaigns INDEXED BY campaigns_listing WHERE ${LIST_WHERE}`),
  byId: defineStatement<[string], GroupRow>(`SELECT * FROM campaigns WHERE id = ? AND formed_at IS NOT NULL`),
  byType: defineStatement<[string], { type: string; n: number }>(
    `SELECT i.type, count(*) AS n FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ? GROUP BY i.type ORDER BY i.type`,
  ),
  topOfType: defineStatement<[string, string, number], { value: string; sightings: number; reputation: number }>(
    `SELECT i.value, i.sightings, i.reputation FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.type = ? ORDER BY i.sightings DESC, i.reputation, i.value LIMIT ?`,
  ),
  events: defineStatement<[string, number], { at: string; event: string; details: string }>(
    `SELECT at, event, details FROM (
       SELECT seq, at, event, details FROM campaign_events WHERE campaign_id = ? ORDER BY at DESC, seq DESC LIMIT ?
     ) AS recent ORDER BY at, seq`,
  ),
  firstMember: defineStatement<[string], { value: string; type: string; first_seen: string }>(
    `SELECT i.value, i.type, i.first_seen FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? ORDER BY i.first_seen, i.value LIMIT 1`,
  ),
  sourceCountries: defineStatement<[string], { country: string }>(
    `SELECT i.country FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.country IS NOT NULL GROUP BY i.country ORDER BY count(*) DESC, i.country`,
  ),
  targetCountries: TARGET_COUNTRIES,
  categories: defineStatement<[string], { category: string }>(
    `SELECT i.category FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.category IS NOT NULL GROUP BY i.category ORDER BY count(*) DESC, i.category`,
  ),
  statusCounts: defineStatement<{ activeFrom: string; dormantFrom: string }, { total: number; active: number; dormant: number; resolved: number; members: number }>(
    `SELECT
       (SELECT count(*) FROM campaigns INDEXED BY campaigns_listing WHERE ${FORMED} >= '') AS total,
       (SELECT count(*) FROM campaigns INDEXED BY campaigns_listing WHERE ${FORMED} >= @activeFrom) AS active,
       (SELECT count(*) FROM campaigns INDEXED BY campaigns_listing WHERE ${FORMED} < @activeFrom AND last_activity >= @dormantFrom) AS dormant,
       (SELECT count(*) FROM campaigns INDEXED BY campaigns_listing WHERE ${FORMED} < @dormantFrom) AS resolved,
       (SELECT n FROM tc_list_totals WHERE name = 'campaign_iocs') AS members`,
  ),
  severityCount: defineStatement<[string], { n: number }>(
    `SELECT count(*) AS n FROM campaigns INDEXED BY campaigns_severity WHERE formed_at IS NOT NULL AND severity = ?`,
  ),
  topTechniques: defineStatement<[number], { id: string; n: number }>(
    `SELECT technique_id AS id, n FROM campaign_technique_counts WHERE n > 0 ORDER BY n DESC, id LIMIT ?`,
  ),
  affectedOrgs: defineStatement<void, { n: number }>(`SELECT count(*) AS n FROM campaign_reporters WHERE n > 0`),
};

/** Reads of the campaign API; every aggregate is SQL over indexed columns. */
export function createCampaignQueries(storage: Queryable, clock: Clock, mitre: MitreCatalog) {
  const q = CAMPAIGN_READS;
  return {
    async list(filter: { status?: CampaignStatus; since?: string; page: number; limit: number }): Promise<{ items: Campaign[]; total: number }> {
      const now = clock.now();
      const range = activityRange(filter.status, now);
      const params: ListWhere = { ...range, since: filter.since ?? null };
      const total = (await storage.get(q.count, params))!.n;
      const rows = await storage.all(q.list, { ...params, limit: filter.limit, offset: (filter.page - 1) * filter.limit });
      return { total, items: rows.map((row) => toCampaign(row, now)) };
    },

    async detail(id: string): Promise<CampaignDetail | null> {
      const row = await storage.get(q.byId, [id]);
      if (!row) return null;
      const campaign = toCampaign(row, clock.now());
      const types = await storage.all(q.byType, [id]);
      const first = await storage.get(q.firstMember, [id]);
      const recorded = (await storage.all(q.events, [id, TIMELINE_EVENTS])).map((event) => ({ date: event.at, event: event.event, details: event.details }));
      const timeline = first
        ? [{ date: first.first_seen, event: 'First indicator reported', details: `${first.type} ${first.value}` }, ...recorded]
        : recorded;
      timeline.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
      return {
        ...campaign,
        description: row.description,
        iocs: {
          total: types.reduce((sum, type) => sum + type.n, 0),
          byType: Object.fromEntries(types.map((type) => [type.type, type.n])),
          topIps: await storage.all(q.topOfType, [id, 'ip', TOP_MEMBERS]),
          topDomains: await storage.all(q.topOfType, [id, 'domain', TOP_MEMBERS]),
        },
        timeline,
        geography: {
          sourceCountries: (await storage.all(q.sourceCountries, [id])).map((r) => r.country),
          targetCountries: (await storage.all(q.targetCountries, [id])).map((r) => r.country),
        },
        recommendations: campaignRecommendations(
          (await storage.all(q.categories, [id])).map((r) => r.category),
          types.map((type) => type.type),
        ),
      };
    },

    async stats(): Promise<CampaignStats> {
      const now = clock.now();
      const counts = (await storage.get(q.statusCounts, { activeFrom: toIso(now - DORMANT_AFTER_MS), dormantFrom: toIso(now - RESOLVED_AFTER_MS) }))!;
      const bySeverity: Partial<Record<CampaignSeverity, number>> = {};
      for (const severity of SEVERITY_ORDER) bySeverity[severity] = (await storage.get(q.severityCount, [severity]))!.n;
      return {
        totalCampaigns: counts.total,
        activeCampaigns: counts.active,
        dormantCampaigns: counts.dormant,
        resolvedCampaigns: counts.resolved,
        bySeverity: bySeverity as Record<CampaignSeverity, number>,
        topMitreTechniques: (await storage.all(q.topTechniques, [TOP_TECHNIQUES])).map((row) => ({ id: row.id, name: mitre.nameOf(row.id), campaigns: row.n })),
        avgIocsPerCampaign: counts.total === 0 ? 0 : Math.round((counts.members / counts.total) * 10) / 10,
        totalAffectedOrgs: (await storage.get(q.affectedOrgs))!.n,
      };
    },
  };
}
export type CampaignQueries = ReturnType<typeof createCampaignQueries>;
