import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { PageQuery, StringEnum, Timestamp } from '../shared/envelope.js';
import { SEVERITIES } from '../shared/severity.js';

export const AGENT_STATUSES = ['online', 'stale', 'offline'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];
export { SEVERITIES, type Severity } from '../shared/severity.js';
export const SUMMARY_PERIODS = ['1h', '6h', '24h', '7d', '30d'] as const;
export type SummaryPeriod = (typeof SUMMARY_PERIODS)[number];
export const RULE_TYPES = ['block_ip', 'alert_threshold', 'auto_respond', 'custom'] as const;

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const JsonObject = Type.Record(Type.String(), Type.Unknown());

export { IdParams } from '../shared/envelope.js';

// ---- agents ----
export const RegisterBody = Type.Object({
  hostname: Type.String({
    minLength: 1,
    maxLength: 253,
    pattern: '^[^\\s\\x00-\\x1f\\x7f]+$',
    errorMessage: 'hostname must be 1-253 characters without spaces or control characters',
  }),
  os: Type.String({
    minLength: 1,
    maxLength: 32,
    pattern: '^[A-Za-z0-9._-]+$',
    errorMessage: 'os must be linux, darwin, win32 or another id of 1-32 characters from [A-Za-z0-9._-]',
  }),
  version: Type.String({ minLength: 1, maxLength: 64 }),
  ip: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  org_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 20 })),
});
export type RegisterBody = Static<typeof RegisterBody>;

export const Agent = Type.Object({
  id: Type.String(),
  hostname: Type.String(),
  os: Type.String(),
  version: Type.String(),
  ip: Type.String(),
  orgId: Type.String(),
  tags: Type.Array(Type.String()),
  status: StringEnum(AGENT_STATUSES),
  lastHeartbeat: Timestamp,
  registeredAt: Timestamp,
});
export type Agent = Static<typeof Agent>;

export const RegisteredAgent = Type.Composite([Agent, Type.Object({ agentToken: Type.String() })]);
export type RegisteredAgent = Static<typeof RegisteredAgent>;

export const AgentDetail = Type.Composite([
  Agent,
  Type.Object({
    cpu: Nullable(Type.Number()),
    memory: Nullable(Type.Number()),
    uptime: Nullable(Type.Number()),
    recentThreats: Type.Integer({ minimum: 0 }),
    activePolicyVersion: Nullable(Type.String()),
    appliedPolicyVersion: Nullable(Type.String({ description: 'The policyVersion the agent last reported applied; differs from activePolicyVersion while a policy is pending' })),
  }),
]);
export type AgentDetail = Static<typeof AgentDetail>;

export const HeartbeatBody = Type.Object({
  uptime: Type.Optional(Type.Number({ minimum: 0 })),
  cpu: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  memory: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  version: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  policyVersion: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
});
export type HeartbeatBody = Static<typeof HeartbeatBody>;

export const HeartbeatReply = Type.Object({
  id: Type.String(),
  status: StringEnum(AGENT_STATUSES),
  lastHeartbeat: Timestamp,
  pendingPolicies: Type.Integer({ minimum: 0, maximum: 1 }),
});

export const AGENT_SORTS = ['registeredAt', 'hostname', 'lastHeartbeat'] as const;
export type AgentSort = (typeof AGENT_SORTS)[number];
export const SORT_ORDERS = ['asc', 'desc'] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

export const AgentListQuery = Type.Object({
  status: Type.Optional(StringEnum(AGENT_STATUSES)),
  org_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  tag: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 20 })),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[^\\s\\x00-\\x1f\\x7f]+$',
      errorMessage: 'q must be 1-64 characters without spaces or control characters',
      description: 'Hostnames starting with this text, ignoring ASCII case (a prefix search on an index)',
    }),
  ),
  sort: Type.Optional(StringEnum(AGENT_SORTS, { description: 'List order; registeredAt (the default) is the order without this parameter' })),
  order: Type.Optional(StringEnum(SORT_ORDERS, { description: 'Default: asc for hostname, desc for registeredAt and lastHeartbeat (newest first)' })),
  ...PageQuery(),
});
export type AgentListQuery = Static<typeof AgentListQuery>;

export const MessageReply = Type.Object({ message: Type.String() });

// ---- threat events ----
export const EventInput = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 64 }),
  severity: StringEnum(SEVERITIES),
  details: JsonObject,
  timestamp: Type.Optional(Type.String({ format: 'date-time' })),
  ruleId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
});
export type EventInput = Static<typeof EventInput>;

export const EventsBody = Type.Object({
  events: Type.Array(EventInput, { minItems: 1, maxItems: 500 }),
});
export type EventsBody = Static<typeof EventsBody>;

export const EventsReply = Type.Object({ received: Type.Integer(), eventIds: Type.Array(Type.String()) });

export const Threat = Type.Object({
  id: Type.String(),
  agentId: Type.String(),
  hostname: Type.String(),
  type: Type.String(),
  severity: StringEnum(SEVERITIES),
  confidence: Nullable(Type.Number()),
  details: JsonObject,
  ruleId: Nullable(Type.String()),
  timestamp: Timestamp,
  receivedAt: Timestamp,
});
export type Threat = Static<typeof Threat>;

export const ThreatQuery = Type.Object({
  since: Type.Optional(Type.String({ format: 'date-time', errorMessage: 'since must be an ISO 8601 date-time' })),
  until: Type.Optional(Type.String({ format: 'date-time', errorMessage: 'until must be an ISO 8601 date-time' })),
  org_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  agent_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  severity: Type.Optional(StringEnum(SEVERITIES)),
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  ...PageQuery(),
});
export type ThreatQuery = Static<typeof ThreatQuery>;

export const SummaryQuery = Type.Object({
  period: Type.Optional(StringEnum(SUMMARY_PERIODS, { default: '24h' })),
  org_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
});
export type SummaryQuery = Static<typeof SummaryQuery>;

export const SeverityCounts = Type.Object({
  low: Type.Integer(),
  medium: Type.Integer(),
  high: Type.Integer(),
  critical: Type.Integer(),
});
export type SeverityCounts = Static<typeof SeverityCounts>;

export const ThreatSummary = Type.Object({
  period: StringEnum(SUMMARY_PERIODS),
  total: Type.Integer(),
  bySeverity: SeverityCounts,
  byType: Type.Record(Type.String(), Type.Integer()),
  topAgents: Type.Array(Type.Object({ agentId: Type.String(), hostname: Type.String(), count: Type.Integer() })),
  topSourceIps: Type.Array(Type.Object({ ip: Type.String(), count: Type.Integer() })),
});
export type ThreatSummary = Static<typeof ThreatSummary>;

export const TimeseriesQuery = SummaryQuery;

export const ThreatTimeseries = Type.Object({
  period: StringEnum(SUMMARY_PERIODS),
  bucket: Type.String({ description: 'Width of each bucket: 5m (1h), 15m (6h), 1h (24h), 6h (7d) or 1d (30d)' }),
  series: Type.Array(
    Type.Composite([
      Type.Object({ timestamp: Type.String({ format: 'date-time', description: 'Start of the bucket, aligned in UTC' }), total: Type.Integer({ minimum: 0 }) }),
      SeverityCounts,
    ]),
    { description: 'Every bucket from the one holding the start of the period to the one holding now, oldest first' },
  ),
});
export type ThreatTimeseries = Static<typeof ThreatTimeseries>;

// ---- policies ----
const Trigger = Type.String({ minLength: 1, maxLength: 200 });
const RULE_CONFIGS = {
  block_ip: Type.Object(
    {
      trigger: Trigger,
      threshold: Type.Integer({ minimum: 1 }),
      // No errorMessage here: a fixed text would lose the rule's index (rules[3].config.duration).
      duration: Type.String({ pattern: '^(permanent|[0-9]{1,6}[mhd])$', description: '1h, 24h, 7d, permanent or a number followed by m, h or d' }),
      scope: StringEnum(['host', 'fleet'] as const),
    },
    { additionalProperties: false },
  ),
  alert_threshold: Type.Object(
    {
      severity: StringEnum(SEVERITIES),
      countPerHour: Type.Integer({ minimum: 1 }),
      notifyChannels: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 20 }),
    },
    { additionalProperties: false },
  ),
  auto_respond: Type.Object(
    {
      trigger: Trigger,
      action: StringEnum(['kill_process', 'quarantine_file', 'block_ip', 'isolate_host'] as const),
      minConfidence: Type.Number({ minimum: 0, maximum: 1 }),
      requireApproval: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
  custom: Type.Object(
    {
      condition: Type.String({ minLength: 1, maxLength: 1000 }),
      action: Type.String({ minLength: 1, maxLength: 200 }),
      params: Type.Optional(JsonObject),
    },
    { additionalProperties: false },
  ),
} as const;

/**
 * A rule whose `config` is validated against the schema of its `type`: if/then keeps the
 * error on the config field itself (`rules[0].config.threshold must be >= 1`) instead of
 * the noise of a failed union.
 */
export const RuleInput = Type.Object(
  {
    type: StringEnum(RULE_TYPES),
    config: JsonObject,
    enabled: Type.Optional(Type.Boolean({ default: true })),
  },
  {
    allOf: Object.entries(RULE_CONFIGS).map(([type, config]) => ({
      if: { properties: { type: { const: type } }, required: ['type'] },
      then: { properties: { config } },
    })),
  },
);
export type RuleInput = Static<typeof RuleInput>;

export const Rule = Type.Object({ type: StringEnum(RULE_TYPES), config: JsonObject, enabled: Type.Boolean() });
export type Rule = Static<typeof Rule>;

const Rules = Type.Array(RuleInput, { minItems: 1, maxItems: 100 });

export const PolicyBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  rules: Rules,
  org_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
});
export type PolicyBody = Static<typeof PolicyBody>;

export const OverrideBody = Type.Object({ rules: Rules });
export type OverrideBody = Static<typeof OverrideBody>;

export const Policy = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  version: Type.String({ description: 'vN, from one counter shared by every scope' }),
  orgId: Nullable(Type.String()),
  agentId: Nullable(Type.String()),
  rules: Type.Array(Rule),
  broadcastedTo: Type.Integer({ minimum: 0 }),
  createdAt: Timestamp,
});
export type Policy = Static<typeof Policy>;

export const ActivePolicyQuery = Type.Object({ org_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) });

export const AgentPolicy = Type.Object({
  agentId: Type.String(),
  policyVersion: Nullable(Type.String()),
  rules: Type.Array(Rule),
  appliedAt: Nullable(Timestamp),
});
export type AgentPolicy = Static<typeof AgentPolicy>;

export const HistoryQuery = Type.Object({ ...PageQuery() });

// ---- overview ----
export const Overview = Type.Object({
  totalAgents: Type.Integer(),
  onlineAgents: Type.Integer(),
  staleAgents: Type.Integer(),
  offlineAgents: Type.Integer(),
  threatSummary: Type.Object({
    last24h: Type.Composite([Type.Object({ total: Type.Integer() }), SeverityCounts]),
    last7d: Type.Composite([Type.Object({ total: Type.Integer() }), SeverityCounts]),
  }),
  activePolicyVersion: Nullable(Type.String()),
  topThreats: Type.Array(Type.Object({ type: Type.String(), count: Type.Integer() })),
  agentsByOs: Type.Record(Type.String(), Type.Integer()),
  updatedAt: Timestamp,
});
export type Overview = Static<typeof Overview>;
