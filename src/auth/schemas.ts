import { Type, type Static } from '@sinclair/typebox';
import { KEY_SCOPES } from '../shared/api-keys.js';
import { PageQuery, StringEnum, Timestamp } from '../shared/envelope.js';
import { RESOURCES, TIERS } from '../shared/tiers.js';

const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
export const TierSchema = StringEnum(TIERS);
export const RoleSchema = StringEnum(['user', 'admin'] as const);

export const Email = Type.String({ format: 'email', maxLength: 254, errorMessage: 'email must be a valid email address of at most 254 characters' });
export const NewPassword = Type.String({ minLength: 8, maxLength: 128, errorMessage: 'Password must be between 8 and 128 characters' });
/** A password being checked, not set: any non-empty string up to the maximum length. */
export const GivenPassword = Type.String({ minLength: 1, maxLength: 128, errorMessage: 'password must be a string of 1 to 128 characters' });
export const TotpCode = Type.String({ pattern: '^[0-9]{6}$', errorMessage: 'totpCode must be a string of 6 digits' });
export const BackupCode = Type.String({ pattern: '^[a-z0-9]{10}$', errorMessage: 'backupCode must be a string of 10 lower-case letters and digits' });

export const RegisterBody = Type.Object({
  email: Email,
  name: Type.String({ minLength: 1, maxLength: 100, errorMessage: 'name must be between 1 and 100 characters' }),
  password: NewPassword,
});
export const LoginBody = Type.Object({
  email: Email,
  password: GivenPassword,
  totpCode: Type.Optional(TotpCode),
  backupCode: Type.Optional(BackupCode),
});
export type LoginBody = Static<typeof LoginBody>;

export const PublicUser = Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), createdAt: Timestamp });
export const RegisterCreated = Type.Object({ message: Type.String(), user: PublicUser, token: Type.String(), expiresAt: Timestamp });
export const Message = Type.Object({ message: Type.String() });
export const LoginData = Type.Object({
  user: Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), totpEnabled: Type.Boolean() }),
  token: Type.String(),
  expiresAt: Timestamp,
});
export const Me = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  tier: TierSchema,
  totpEnabled: Type.Boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const ForgotBody = Type.Object({ email: Email });
export const ResetBody = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 200, errorMessage: 'token must be a non-empty string' }),
  newPassword: NewPassword,
});
export const ChangePasswordBody = Type.Object({ currentPassword: GivenPassword, newPassword: NewPassword });

export const TotpSetup = Type.Object({ secret: Type.String(), otpauthUrl: Type.String(), backupCodes: Type.Array(Type.String()) });
export const TotpCodeBody = Type.Object({ totpCode: TotpCode });
export const TotpDisableBody = Type.Object({
  password: GivenPassword,
  totpCode: Type.Optional(TotpCode),
  backupCode: Type.Optional(BackupCode),
});
export const TotpStatus = Type.Object({ enabled: Type.Boolean(), backupCodesRemaining: Type.Integer() });
export const BackupCodes = Type.Object({ backupCodes: Type.Array(Type.String()) });

export const Session = Type.Object({
  id: Type.String(),
  createdAt: Timestamp,
  lastUsedAt: Timestamp,
  expiresAt: Timestamp,
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
});
export const AdminSession = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  createdAt: Timestamp,
  lastUsedAt: Timestamp,
  expiresAt: Timestamp,
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
});
export { IdParams } from '../shared/envelope.js';
export const Revoked = Type.Object({ revoked: Type.Literal(true) });

export const DeleteAccountBody = Type.Object({ password: GivenPassword });

export const ApiKeyCreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100, errorMessage: 'name must be between 1 and 100 characters' }),
  scopes: Type.Optional(Type.Array(StringEnum(['read', 'write'] as const), { minItems: 1, maxItems: 2, uniqueItems: true })),
});
const Scopes = Type.Array(StringEnum(KEY_SCOPES));
export const ApiKeyCreated = Type.Object({
  id: Type.String(),
  name: Type.String(),
  key: Type.String(),
  prefix: Type.String(),
  scopes: Scopes,
  tier: TierSchema,
  createdAt: Timestamp,
});
export const ApiKeySummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String(),
  scopes: Scopes,
  tier: TierSchema,
  createdAt: Timestamp,
});

export const EnrollTokenCreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100, errorMessage: 'name must be between 1 and 100 characters' }),
  expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365, errorMessage: 'expiresInDays must be an integer from 1 to 365' })),
});
export const EnrollTokenCreated = Type.Object({
  id: Type.String(),
  name: Type.String(),
  token: Type.String(),
  prefix: Type.String(),
  orgId: Type.String(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
});
export const EnrollTokenSummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String(),
  orgId: Type.String(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  lastUsedAt: NullableTimestamp,
  agentsEnrolled: Type.Integer(),
});

export const BillingStatus = Type.Object({
  tier: TierSchema,
  status: Type.String(),
  renewsAt: NullableTimestamp,
  endsAt: NullableTimestamp,
  planExpiresAt: NullableTimestamp,
});
export const CheckoutBody = Type.Object({ tier: StringEnum(['solo', 'pro', 'business', 'enterprise'] as const) });
export const Url = Type.Object({ url: Type.String() });
export const WebhookReceived = Type.Object({ received: Type.Literal(true), ignored: Type.Optional(Type.String()) });

export const ResourceSchema = StringEnum(RESOURCES);
export const UsageSummary = Type.Object({
  tier: TierSchema,
  period: Type.String(),
  resources: Type.Array(
    Type.Object({ resource: ResourceSchema, current: Type.Integer(), limit: Type.Integer(), remaining: Type.Integer(), percentage: Type.Number() }),
  ),
});
export const UsageLimits = Type.Object({
  tier: TierSchema,
  limits: Type.Object({ api_calls: Type.Integer(), guard_endpoints: Type.Integer(), api_keys: Type.Integer(), reports: Type.Integer() }),
});
export const UsageCheckBody = Type.Object({
  resource: ResourceSchema,
  amount: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
});
export const UsageCheck = Type.Object({ allowed: Type.Boolean(), current: Type.Integer(), limit: Type.Integer(), remaining: Type.Integer() });

export const AdminUser = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  tier: TierSchema,
  suspended: Type.Boolean(),
  totpEnabled: Type.Boolean(),
  createdAt: Timestamp,
  lastLoginAt: NullableTimestamp,
  planExpiresAt: NullableTimestamp,
});
export const AdminUsersQuery = Type.Object({
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
  role: Type.Optional(RoleSchema),
  tier: Type.Optional(TierSchema),
  ...PageQuery(),
});
export const AdminUserPatch = Type.Object(
  {
    role: Type.Optional(RoleSchema),
    tier: Type.Optional(TierSchema),
    planExpiresAt: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { errorMessage: 'planExpiresAt must be an ISO 8601 date-time or null' })),
    suspended: Type.Optional(Type.Boolean()),
  },
  { minProperties: 1, additionalProperties: false, errorMessage: 'Provide at least one of role, tier, planExpiresAt, suspended' },
);
export type AdminUserPatch = Static<typeof AdminUserPatch>;

export const AuditEntry = Type.Object({
  id: Type.String(),
  action: Type.String(),
  actorId: Type.Union([Type.String(), Type.Null()]),
  targetId: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Timestamp,
});
export const AuditQuery = Type.Object({
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  until: Type.Optional(Type.String({ format: 'date-time' })),
  ...PageQuery(),
});
export const SessionsQuery = Type.Object({ ...PageQuery() });

const Usage = Type.Array(Type.Object({ resource: ResourceSchema, period: Type.String(), current: Type.Integer(), limit: Type.Integer() }));
const SubscriptionView = Type.Union([
  Type.Object({
    status: Type.String(),
    variantId: Type.Union([Type.String(), Type.Null()]),
    renewsAt: NullableTimestamp,
    endsAt: NullableTimestamp,
    updatedAt: Timestamp,
  }),
  Type.Null(),
]);
export const AdminUserDetail = Type.Object({
  user: AdminUser,
  subscription: SubscriptionView,
  usage: Usage,
  sessions: Type.Array(AdminSession),
  totp: TotpStatus,
  recentAudit: Type.Array(AuditEntry),
});
export const Stats = Type.Object({
  users: Type.Object({
    total: Type.Integer(),
    byTier: Type.Record(Type.String(), Type.Integer()),
    byRole: Type.Record(Type.String(), Type.Integer()),
    signupsByDay: Type.Array(Type.Object({ day: Type.String(), count: Type.Integer() })),
  }),
  liveSessions: Type.Integer(),
  twoFactor: Type.Object({ enabled: Type.Integer(), percentage: Type.Number() }),
});

export const ExportData = Type.Object({
  exportedAt: Timestamp,
  user: Type.Composite([AdminUser, Type.Object({ updatedAt: Timestamp })]),
  sessions: Type.Array(AdminSession),
  /** Addresses of full sign-ins that the account-wide login failure cap spares (personal data). */
  knownAddresses: Type.Array(Type.Object({ ip: Type.String(), lastSuccessAt: Timestamp })),
  subscription: SubscriptionView,
  usage: Usage,
  apiKeys: Type.Array(
    Type.Object({ id: Type.String(), name: Type.String(), prefix: Type.String(), scopes: Scopes, createdAt: Timestamp, revokedAt: NullableTimestamp }),
  ),
  enrollTokens: Type.Array(Type.Composite([EnrollTokenSummary, Type.Object({ revokedAt: NullableTimestamp })])),
  auditLog: Type.Array(AuditEntry),
  agents: Type.Array(Type.Unknown()),
  threatEvents: Type.Array(Type.Unknown()),
  policies: Type.Array(Type.Unknown()),
});
