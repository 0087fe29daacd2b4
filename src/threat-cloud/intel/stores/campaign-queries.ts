import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import type { Db } from '../../../shared/db/open.js';
import { defineStatement } from '../../../shared/db/storage.js';
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

interface ListWhere {
  from: string | null;
  before: string | null;
  since: string | null;
}

/** Reads of the campaign API; every aggregate is SQL over indexed columns. */
export function createCampaignQueries(db: Db, clock: Clock, mitre: MitreCatalog) {
  // Always a last_activity range (status, or everything) and an updated_at bound, so one
  // statement walks `campaigns_listing` (migration 10) in the list's order and checks `since`
  // from the index: a page stops after offset + limit entries, a count reads the index alone.
  const where = `formed_at IS NOT NULL
    AND last_activity >= coalesce(@from, '') AND last_activity < coalesce(@before, '~')
    AND updated_at > coalesce(@since, '')`;
  const list = db.prepare<ListWhere & { limit: number; offset: number }, GroupRow>(
    `SELECT * FROM campaigns INDEXED BY campaigns_listing WHERE ${where} ORDER BY last_activity DESC, id LIMIT @limit OFFSET @offset`,
  );
  const count = db.prepare<ListWhere, { n: number }>(`SELECT count(*) AS n FROM campaigns INDEXED BY campaigns_listing WHERE ${where}`);
  const byId = db.prepare<[string], GroupRow>(`SELECT * FROM campaigns WHERE id = ? AND formed_at IS NOT NULL`);

  const byType = db.prepare<[string], { type: string; n: number }>(
    `SELECT i.type, count(*) AS n FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id WHERE c.campaign_id = ? GROUP BY i.type ORDER BY i.type`,
  );
  const topOfType = db.prepare<[string, string, number], { value: string; sightings: number; reputation: number }>(
    `SELECT i.value, i.sightings, i.reputation FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.type = ? ORDER BY i.sightings DESC, i.reputation, i.value LIMIT ?`,
  );
  const events = db.prepare<[string, number], { at: string; event: string; details: string }>(
    `SELECT at, event, details FROM (
       SELECT seq, at, event, details FROM campaign_events WHERE campaign_id = ? ORDER BY at DESC, seq DESC LIMIT ?
     ) AS recent ORDER BY at, seq`,
  );
  const firstMember = db.prepare<[string], { value: string; type: string; first_seen: string }>(
    `SELECT i.value, i.type, i.first_seen FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? ORDER BY i.first_seen, i.value LIMIT 1`,
  );
  const sourceCountries = db.prepare<[string], string>(
    `SELECT i.country FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.country IS NOT NULL GROUP BY i.country ORDER BY count(*) DESC, i.country`,
  ).pluck();
  const targetCountries = db.prepare<[string], string>(TARGET_COUNTRIES.sql).pluck();
  const categories = db.prepare<[string], string>(
    `SELECT i.category FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.category IS NOT NULL GROUP BY i.category ORDER BY count(*) DESC, i.category`,
  ).pluck();

  // From indexes and the trigger-kept counts of migration 10, never from the members.
  const formedWhere = `formed_at IS NOT NULL AND last_activity`;
  const statusCounts = db.prepare<{ activeFrom: string; dormantFrom: string }, { total: number; active: number; dormant: number; resolved: number; members: number }>(
    `SELECT
       (SELECT count(*) FROM campaigns INDEXED BY campaigns_listing WHERE ${formedWhere} >= '') AS total,
       (SELECT count(*) FROM campaigns INDEXED BY campaigns_listing WHERE ${formedWhere} >= @activeFrom) AS active,
       (SELECT count(*) FROM campaigns INDEXED BY campaigns_listing WHERE ${formedWhere} < @activeFrom AND last_activity >= @dormantFrom) AS dormant,
       (SELECT count(*) FROM campaigns INDEXED BY campaigns_listing WHERE ${formedWhere} < @dormantFrom) AS resolved,
       (SELECT n FROM tc_list_totals WHERE name = 'campaign_iocs') AS members`,
  );
  const severityCount = db.prepare<[string], { n: number }>(
    `SELECT count(*) AS n FROM campaigns INDEXED BY campaigns_severity WHERE formed_at IS NOT NULL AND severity = ?`,
  );
  const topTechniques = db.prepare<[number], { id: string; n: number }>(
    `SELECT technique_id AS id, n FROM campaign_technique_counts WHERE n > 0 ORDER BY n DESC, id LIMIT ?`,
  );
  const affectedOrgs = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM campaign_reporters WHERE n > 0`);

  return {
    list(filter: { status?: CampaignStatus; since?: string; page: number; limit: number }): { items: Campaign[]; total: number } {
      const now = clock.now();
      const range = activityRange(filter.status, now);
      const params: ListWhere = { ...range, since: filter.since ?? null };
      return {
        total: count.get(params)!.n,
        items: list.all({ ...params, limit: filter.limit, offset: (filter.page - 1) * filter.limit }).map((row) => toCampaign(row, now)),
      };
    },

    detail(id: string): CampaignDetail | null {
      const row = byId.get(id);
      if (!row) return null;
      const campaign = toCampaign(row, clock.now());
      const types = byType.all(id);
      const first = firstMember.get(id);
      const recorded = events.all(id, TIMELINE_EVENTS).map((event) => ({ date: event.at, event: event.event, details: event.details }));
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
          topIps: topOfType.all(id, 'ip', TOP_MEMBERS),
          topDomains: topOfType.all(id, 'domain', TOP_MEMBERS),
        },
        timeline,
        geography: { sourceCountries: sourceCountries.all(id), targetCountries: targetCountries.all(id) },
        recommendations: campaignRecommendations(
          categories.all(id),
          types.map((type) => type.type),
        ),
      };
    },

    stats(): CampaignStats {
      const now = clock.now();
      const counts = statusCounts.get({ activeFrom: toIso(now - DORMANT_AFTER_MS), dormantFrom: toIso(now - RESOLVED_AFTER_MS) })!;
      const bySeverity = Object.fromEntries(SEVERITY_ORDER.map((severity) => [severity, severityCount.get(severity)!.n])) as Record<CampaignSeverity, number>;
      return {
        totalCampaigns: counts.total,
        activeCampaigns: counts.active,
        dormantCampaigns: counts.dormant,
        resolvedCampaigns: counts.resolved,
        bySeverity,
        topMitreTechniques: topTechniques.all(TOP_TECHNIQUES).map((row) => ({ id: row.id, name: mitre.nameOf(row.id), campaigns: row.n })),
        avgIocsPerCampaign: counts.total === 0 ? 0 : Math.round((counts.members / counts.total) * 10) / 10,
        totalAffectedOrgs: affectedOrgs.get()!.n,
      };
    },
  };
}
export type CampaignQueries = ReturnType<typeof createCampaignQueries>;
