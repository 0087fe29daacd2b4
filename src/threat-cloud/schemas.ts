import { Type, type Static } from '@sinclair/typebox';
import { KEY_SCOPES } from '../shared/api-keys.js';
import { PageQuery, StringEnum, Timestamp } from '../shared/envelope.js';
import { TIERS } from '../shared/tiers.js';
import { AUDIT_ACTIONS } from './stores/audit.js';
import { CATEGORIES, IOC_STATUSES } from './stores/iocs.js';
import { IOC_TYPES, MAX_VALUE_LENGTH } from './normalise.js';
import { SEVERITIES } from './reputation.js';

export const IocTypeSchema = StringEnum(IOC_TYPES);
export const CategorySchema = StringEnum(CATEGORIES);
export const SeveritySchema = StringEnum(SEVERITIES);
export const StatusSchema = StringEnum(IOC_STATUSES);
const Value = Type.String({ minLength: 1, maxLength: MAX_VALUE_LENGTH });
const Source = Type.String({ minLength: 1, maxLength: 64 });
const AnyObject = Type.Record(Type.String(), Type.Unknown());
const Reputation = Type.Integer({ minimum: 0, maximum: 100 });

/** Known metadata keys are typed; other keys are kept as sent (the whole object ≤ 8 KiB). */
export const MetadataSchema = Type.Object(
  {
    mitreIds: Type.Optional(Type.Array(Type.String({ pattern: '^T[0-9]{4}(\\.[0-9]{3})?$' }), { maxItems: 100 })),
    mitreId: Type.Optional(Type.String({ pattern: '^T[0-9]{4}(\\.[0-9]{3})?$' })),
    ports: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 65535 }), { maxItems: 1000 })),
    protocols: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { maxItems: 100 })),
    asn: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^(AS)?[0-9]{1,10}$' })])),
    country: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$', errorMessage: 'metadata.country must be an ISO 3166 alpha-2 code' })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    protocol: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  },
  { additionalProperties: true },
);
export const MAX_METADATA_BYTES = 8 * 1024;
export const MAX_CONTEXT_BYTES = 4 * 1024;

export const ThreatItem = Type.Object({
  type: IocTypeSchema,
  value: Value,
  source: Source,
  category: Type.Optional(CategorySchema),
  severity: Type.Optional(SeveritySchema),
  confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  metadata: Type.Optional(MetadataSchema),
});
export const ThreatsBody = Type.Object({ threats: Type.Array(ThreatItem, { minItems: 1, maxItems: 100 }) });
export type ThreatsBody = Static<typeof ThreatsBody>;
export const ThreatsResult = Type.Object({
  received: Type.Integer(),
  new: Type.Integer(),
  updated: Type.Integer(),
  iocIds: Type.Array(Type.String()),
});

export const TrapIntelBody = Type.Object({
  trapId: Type.String({ minLength: 1, maxLength: 64 }),
  attackerIp: Type.String({ minLength: 1, maxLength: 64 }),
  honeypotType: StringEnum(['ssh', 'http', 'ftp', 'smtp', 'custom'] as const),
  interactions: Type.Optional(
    Type.Array(
      Type.Object({
        timestamp: Type.String({ format: 'date-time' }),
        action: StringEnum(['login_attempt', 'command', 'download', 'connect', 'other'] as const),
        data: AnyObject,
      }),
      { maxItems: 1000 },
    ),
  ),
  credentials: Type.Optional(
    Type.Array(Type.Object({ username: Type.String({ maxLength: 256 }), password: Type.String({ maxLength: 256 }) }), { maxItems: 1000 }),
  ),
  payloads: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9a-fA-F]{64}$', errorMessage: 'payloads must be SHA-256 hex digests' }), { maxItems: 100 })),
});
export type TrapIntelBody = Static<typeof TrapIntelBody>;
export const TrapIntelResult = Type.Object({
  iocId: Type.String(),
  reputationDelta: Type.Integer(),
  relatedIocs: Type.Integer(),
  campaignMatch: Type.Union([Type.String(), Type.Null()]),
});

export const IocItem = Type.Object({
  id: Type.String(),
  value: Type.String(),
  type: IocTypeSchema,
  reputation: Reputation,
  category: Type.Union([CategorySchema, Type.Null()]),
  severity: SeveritySchema,
  confidence: Type.Number(),
  source: Type.String(),
  sources: Type.Array(Type.String()),
  sightings: Type.Integer(),
  firstSeen: Timestamp,
  lastSeen: Timestamp,
  status: StatusSchema,
  metadata: AnyObject,
});
export type IocItem = Static<typeof IocItem>;

export const IocListQuery = Type.Object({
  type: Type.Optional(IocTypeSchema),
  source: Type.Optional(Source),
  category: Type.Optional(CategorySchema),
  status: Type.Optional(StatusSchema),
  minReputation: Type.Optional(Reputation),
  maxReputation: Type.Optional(Reputation),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_VALUE_LENGTH })),
  ...PageQuery(200, 50),
});
export type IocListQuery = Static<typeof IocListQuery>;

export const ReputationFactorsSchema = Type.Object({
  sev: Type.Number(),
  conf: Type.Number(),
  reports: Type.Integer(),
  reporters: Type.Integer(),
  trap: Type.Boolean(),
  days: Type.Number(),
  corroboration: Type.Number(),
});

export const IocDetail = Type.Composite([
  IocItem,
  Type.Object({
    campaigns: Type.Array(Type.String()),
    relatedIocs: Type.Array(Type.Object({ value: Type.String(), type: IocTypeSchema, relation: Type.String() })),
    reputationFactors: ReputationFactorsSchema,
  }),
]);
/**
 * A lookup answers either the IoC (IocDetail) or, never seen, `{value, type, reputation: 80,
 * status: "unknown", sightings: 0, message}`. One object schema with the detail fields
 * optional covers both, so the hot lookup route is serialised without an anyOf branch test.
 */
export const IocLookup = Type.Composite([
  Type.Omit(Type.Partial(IocDetail), ['value', 'type', 'reputation', 'status', 'sightings']),
  Type.Object({
    value: Type.String(),
    type: IocTypeSchema,
    reputation: Reputation,
    status: StringEnum([...IOC_STATUSES, 'unknown'] as const),
    sightings: Type.Integer(),
    message: Type.Optional(Type.String()),
  }),
]);
export const ValueParams = Type.Object({ value: Type.String({ minLength: 1, maxLength: MAX_VALUE_LENGTH }) });
export const LookupQuery = Type.Object({ type: Type.Optional(IocTypeSchema) });

export const StatusBody = Type.Object({
  status: StringEnum(['active', 'whitelisted', 'revoked'] as const),
  reason: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type StatusBody = Static<typeof StatusBody>;

export const SightingBody = Type.Object({ value: Value, source: Source, context: Type.Optional(AnyObject) });
export type SightingBody = Static<typeof SightingBody>;
export const SightingResult = Type.Object({
  sightingId: Type.String(),
  iocValue: Type.String(),
  totalSightings: Type.Integer(),
  reputationChange: Type.Integer(),
});
export const SightingsQuery = Type.Object({ value: Value, ...PageQuery(200, 50) });
export const SightingItem = Type.Object({
  id: Type.String(),
  value: Type.String(),
  source: Type.String(),
  context: Type.Union([AnyObject, Type.Null()]),
  timestamp: Timestamp,
});

export const AuditQuery = Type.Object({
  action: Type.Optional(StringEnum(AUDIT_ACTIONS)),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  ...PageQuery(200, 50),
});
export const AuditItem = Type.Object({
  id: Type.String(),
  action: StringEnum(AUDIT_ACTIONS),
  resource: Type.String(),
  details: AnyObject,
  apiKey: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  timestamp: Timestamp,
});

export const KeyScopeSchema = StringEnum(KEY_SCOPES);
export const TierSchema = StringEnum(TIERS);
export const CreateKeyBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  tier: TierSchema,
  scopes: Type.Array(KeyScopeSchema, { minItems: 1, maxItems: 3, uniqueItems: true }),
});
export type CreateKeyBody = Static<typeof CreateKeyBody>;
export const KeyInfo = Type.Object({
  id: Type.String(),
  prefix: Type.String(),
  masked: Type.String(),
  name: Type.String(),
  origin: Type.String(),
  tier: TierSchema,
  scopes: Type.Array(KeyScopeSchema),
  createdAt: Timestamp,
});
export const CreatedKey = Type.Object({
  id: Type.String(),
  key: Type.String(),
  prefix: Type.String(),
  name: Type.String(),
  tier: TierSchema,
  scopes: Type.Array(KeyScopeSchema),
});
/** The id of a rule or an operator key: rule ids are chosen by operators and may be longer than the shared IdParams allows. */
export const RuleOrKeyIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

export const RuleBody = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' }),
  name: Type.String({ minLength: 1, maxLength: 256 }),
  content: Type.String({ minLength: 1, maxLength: 65_536 }),
});
export type RuleBody = Static<typeof RuleBody>;
export const RuleInfo = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Timestamp, updatedAt: Timestamp });

export const BlocklistQuery = Type.Object({
  minReputation: Type.Optional(Reputation),
  maxReputation: Type.Optional(Reputation),
  category: Type.Optional(CategorySchema),
});
export const IocFeedQuery = Type.Object({
  since: Type.Optional(Type.String({ format: 'date-time' })),
  type: Type.Optional(IocTypeSchema),
  maxReputation: Type.Optional(Reputation),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 1000 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
});
export type IocFeedQuery = Static<typeof IocFeedQuery>;
export const FeedIoc = Type.Object({
  value: Type.String(),
  type: IocTypeSchema,
  reputation: Reputation,
  category: Type.Union([CategorySchema, Type.Null()]),
  sightings: Type.Integer(),
  firstSeen: Timestamp,
  lastSeen: Timestamp,
  metadata: AnyObject,
});
export const RemovedIoc = Type.Object({ value: Type.String(), type: IocTypeSchema });
export const IocFeed = Type.Object({
  generatedAt: Timestamp,
  count: Type.Integer(),
  iocs: Type.Array(FeedIoc),
  removed: Type.Array(RemovedIoc),
  nextCursor: Type.String(),
});
export const AgentUpdateQuery = Type.Object({
  currentVersion: Type.Optional(Type.String({ pattern: '^v[0-9]{1,15}$', errorMessage: 'currentVersion must look like v<number>' })),
  agentId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export const AgentUpdate = Type.Object({
  version: Type.String(),
  rules: Type.Object({
    atr: Type.Object({
      added: Type.Array(Type.String()),
      updated: Type.Array(Type.String()),
      removed: Type.Array(Type.String()),
      files: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), content: Type.String() })),
    }),
  }),
  iocs: Type.Object({
    ipBlocklist: Type.Array(Type.String()),
    domainBlocklist: Type.Array(Type.String()),
    hashBlocklist: Type.Array(Type.String()),
    removed: Type.Array(RemovedIoc),
  }),
  config: Type.Object({ heartbeatInterval: Type.Integer(), logLevel: Type.String() }),
});

export const Stats = Type.Object({
  totalIocs: Type.Integer(),
  activeIocs: Type.Integer(),
  totalSightings: Type.Integer(),
  totalSources: Type.Integer(),
  byType: Type.Record(Type.String(), Type.Integer()),
  byCategory: Type.Record(Type.String(), Type.Integer()),
  last24h: Type.Object({ newIocs: Type.Integer(), newSightings: Type.Integer(), topCategory: Type.Union([Type.String(), Type.Null()]) }),
  updatedAt: Timestamp,
});
