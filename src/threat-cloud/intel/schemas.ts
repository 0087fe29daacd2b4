import { Type, type Static } from '@sinclair/typebox';
import { PageQuery, StringEnum, Timestamp } from '../../shared/envelope.js';
import { CategorySchema, IocTypeSchema } from '../schemas.js';
import { CAMPAIGN_STATUSES, SEVERITY_ORDER } from './stores/campaigns.js';
import { GRANULARITIES, PERIODS } from './periods.js';

const Count = Type.Integer({ minimum: 0 });

export const CampaignListQuery = Type.Object({
  status: Type.Optional(StringEnum(CAMPAIGN_STATUSES)),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Campaigns updated after this instant' })),
  ...PageQuery(100, 20),
});
export type CampaignListQuery = Static<typeof CampaignListQuery>;

export const CampaignParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

export const CampaignItem = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: StringEnum(CAMPAIGN_STATUSES),
  severity: StringEnum(SEVERITY_ORDER),
  firstSeen: Timestamp,
  lastActivity: Timestamp,
  iocCount: Count,
  affectedOrgs: Count,
  mitreIds: Type.Array(Type.String()),
  tags: Type.Array(Type.String()),
});

const TopMember = Type.Object({ value: Type.String(), sightings: Count, reputation: Type.Integer({ minimum: 0, maximum: 100 }) });

export const CampaignDetailSchema = Type.Composite([
  CampaignItem,
  Type.Object({
    description: Type.String(),
    iocs: Type.Object({
      total: Count,
      byType: Type.Record(Type.String(), Count),
      topIps: Type.Array(TopMember),
      topDomains: Type.Array(TopMember),
    }),
    timeline: Type.Array(Type.Object({ date: Timestamp, event: Type.String(), details: Type.String() })),
    geography: Type.Object({
      sourceCountries: Type.Array(Type.String(), { description: 'ISO 3166 alpha-2 codes of member IoCs, most frequent first' }),
      targetCountries: Type.Array(Type.String(), { description: "Union of members' metadata.targetCountry" }),
    }),
    recommendations: Type.Array(Type.String()),
  }),
]);

export const CampaignStatsSchema = Type.Object({
  totalCampaigns: Count,
  activeCampaigns: Count,
  dormantCampaigns: Count,
  resolvedCampaigns: Count,
  bySeverity: Type.Object({ low: Count, medium: Count, high: Count, critical: Count }),
  topMitreTechniques: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), campaigns: Count })),
  avgIocsPerCampaign: Type.Number({ minimum: 0 }),
  totalAffectedOrgs: Count,
});

export const TimeseriesQuery = Type.Object({
  granularity: Type.Optional(StringEnum(GRANULARITIES, { default: 'day' })),
  period: Type.Optional(StringEnum(PERIODS, { default: '7d' })),
  type: Type.Optional(IocTypeSchema),
  category: Type.Optional(CategorySchema),
});
export const TimeseriesSchema = Type.Object({
  granularity: StringEnum(GRANULARITIES),
  period: StringEnum(PERIODS),
  series: Type.Array(Type.Object({ timestamp: Timestamp, newIocs: Count, sightings: Count })),
});

export const GeoQuery = Type.Object({
  type: Type.Optional(IocTypeSchema),
  period: Type.Optional(StringEnum(PERIODS, { default: '7d' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 250, default: 20 })),
});
export const GeoSchema = Type.Object({
  period: StringEnum(PERIODS),
  countries: Type.Array(Type.Object({ code: Type.String(), name: Type.String(), count: Count, percentage: Type.Number({ minimum: 0, maximum: 100 }) })),
  total: Count,
});

export const TrendsQuery = Type.Object({
  periodDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 90, default: 7 })),
  minChange: Type.Optional(Type.Number({ minimum: 0, maximum: 1_000_000, default: 10 })),
});
export const TrendsSchema = Type.Object({
  periodDays: Type.Integer(),
  trends: Type.Array(
    Type.Object({
      category: Type.String(),
      direction: StringEnum(['increasing', 'decreasing'] as const),
      changePercent: Type.Number(),
      currentRate: Count,
      previousRate: Count,
      description: Type.String(),
    }),
  ),
  emergingThreats: Type.Array(
    Type.Object({
      indicator: Type.String(),
      type: Type.String(),
      firstSeen: Timestamp,
      velocity: StringEnum(['rapid', 'steady'] as const),
      sightingsLast24h: Count,
    }),
  ),
});

export const HEATMAP_PERIODS = ['7d', '30d', '90d'] as const;
export const HeatmapQuery = Type.Object({ period: Type.Optional(StringEnum(HEATMAP_PERIODS, { default: '7d' })) });
export const HeatmapSchema = Type.Object({
  period: StringEnum(HEATMAP_PERIODS),
  techniques: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.Union([Type.String(), Type.Null()], { description: 'null when the bundled ATT&CK table does not know the id' }),
      tactic: Type.Union([Type.String(), Type.Null()]),
      tactics: Type.Array(Type.String()),
      count: Count,
      intensity: StringEnum(['critical', 'high', 'medium', 'low'] as const),
    }),
  ),
  tactics: Type.Record(Type.String(), Count),
});
