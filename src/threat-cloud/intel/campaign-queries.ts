import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
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
} from './campaign-store.js';
import { campaignRecommendations } from './campaign-text.js';
import type { MitreCatalog } from './mitre.js';

/** How many members the detail view lists per type, and how many timeline entries. */
const TOP_MEMBERS = 10;
const TIMELINE_EVENTS = 100;
const TOP_TECHNIQUES = 10;

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
  const where = `formed_at IS NOT NULL
    AND (@from IS NULL OR last_activity >= @from) AND (@before IS NULL OR last_activity < @before)
    AND (@since IS NULL OR updated_at > @since)`;
  const list = db.prepare<ListWhere & { limit: number; offset: number }, GroupRow>(
    `SELECT * FROM campaigns WHERE ${where} ORDER BY last_activity DESC, id LIMIT @limit OFFSET @offset`,
  );
  const count = db.prepare<ListWhere, { n: number }>(`SELECT count(*) AS n FROM campaigns WHERE ${where}`);
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
     ) ORDER BY at, seq`,
  );
  const firstMember = db.prepare<[string], { value: string; type: string; first_seen: string }>(
    `SELECT i.value, i.type, i.first_seen FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? ORDER BY i.first_seen, i.value LIMIT 1`,
  );
  const sourceCountries = db.prepare<[string], string>(
    `SELECT i.country FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.country IS NOT NULL GROUP BY i.country ORDER BY count(*) DESC, i.country`,
  ).pluck();
  const targetCountries = db.prepare<[string], string>(
    `SELECT DISTINCT upper(j.value) FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id,
       json_each(CASE WHEN json_valid(i.metadata) THEN i.metadata ELSE '{}' END, '$.targetCountry') j
     WHERE c.campaign_id = ? AND j.type = 'text' ORDER BY 1`,
  ).pluck();
  const categories = db.prepare<[string], string>(
    `SELECT i.category FROM campaign_iocs c JOIN iocs i ON i.id = c.ioc_id
     WHERE c.campaign_id = ? AND i.category IS NOT NULL GROUP BY i.category ORDER BY count(*) DESC, i.category`,
  ).pluck();

  const statusCounts = db.prepare<{ activeFrom: string; dormantFrom: string }, { total: number; active: number | null; dormant: number | null; resolved: number | null; avg: number | null }>(
    `SELECT count(*) AS total,
       sum(last_activity >= @activeFrom) AS active,
       sum(last_activity < @activeFrom AND last_activity >= @dormantFrom) AS dormant,
       sum(last_activity < @dormantFrom) AS resolved,
       avg(ioc_count) AS avg
     FROM campaigns WHERE formed_at IS NOT NULL`,
  );
  const severityCounts = db.prepare<[], { severity: CampaignSeverity; n: number }>(
    `SELECT severity, count(*) AS n FROM campaigns WHERE formed_at IS NOT NULL GROUP BY severity`,
  );
  const topTechniques = db.prepare<[number], { id: string; n: number }>(
    `SELECT t.technique_id AS id, count(*) AS n FROM campaign_techniques t JOIN campaigns c ON c.id = t.campaign_id
     WHERE c.formed_at IS NOT NULL GROUP BY t.technique_id ORDER BY n DESC, id LIMIT ?`,
  );
  const affectedOrgs = db.prepare<[], { n: number }>(
    // CROSS JOIN keeps the planner on campaign members instead of scanning every reporter row.
    `SELECT count(DISTINCT r.reporter_id) AS n FROM campaigns c
       CROSS JOIN campaign_iocs m ON m.campaign_id = c.id CROSS JOIN ioc_reporters r ON r.ioc_id = m.ioc_id
     WHERE c.formed_at IS NOT NULL`,
  );
  const membership = db.prepare<[string], string>(
    `SELECT c.id FROM campaign_iocs m JOIN campaigns c ON c.id = m.campaign_id WHERE m.ioc_id = ? AND c.formed_at IS NOT NULL`,
  ).pluck();

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
      const bySeverity = Object.fromEntries(SEVERITY_ORDER.map((severity) => [severity, 0])) as Record<CampaignSeverity, number>;
      for (const row of severityCounts.all()) bySeverity[row.severity] = row.n;
      return {
        totalCampaigns: counts.total,
        activeCampaigns: counts.active ?? 0,
        dormantCampaigns: counts.dormant ?? 0,
        resolvedCampaigns: counts.resolved ?? 0,
        bySeverity,
        topMitreTechniques: topTechniques.all(TOP_TECHNIQUES).map((row) => ({ id: row.id, name: mitre.nameOf(row.id), campaigns: row.n })),
        avgIocsPerCampaign: Math.round((counts.avg ?? 0) * 10) / 10,
        totalAffectedOrgs: affectedOrgs.get()!.n,
      };
    },

    /** Campaign ids of an IoC (at most one: campaigns are disjoint), for GET /api/iocs/:value. */
    campaignsOf(iocId: string): string[] {
      return membership.all(iocId);
    },
  };
}
export type CampaignQueries = ReturnType<typeof createCampaignQueries>;
