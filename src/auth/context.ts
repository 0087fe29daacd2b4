import type { FastifyBaseLogger } from 'fastify';
import type { ResolvedConfig } from '../config.js';
import { createApiKeyStore, type ApiKeyStore } from '../shared/api-keys.js';
import type { Clock } from '../shared/clock.js';
import type { Storage } from '../shared/db/storage.js';
import { createAfterResponse, type AfterResponse } from './jobs/after-response.js';
import { scaled } from '../shared/service-deps.js';
import { MINUTE_MS } from '../shared/time.js';
import { createUsageStore, type UsageStore } from '../shared/usage.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { createOutboxStore, type OutboxStore } from './stores/outbox.js';
import { createSmtpTransport } from './mail/transport.js';
import { NO_IP_REPUTATION, NO_ORG_DATA, type IpReputation, type OrgData } from './ports.js';
import { createPasswordHasher, type PasswordHasher } from './services/password-hasher.js';
import { createAuditStore, type AuditStore } from './stores/audit.js';
import { createEnrollTokenStore, type EnrollTokenStore } from './stores/enroll-tokens.js';
import { createFailureStore, type FailureStore } from './stores/failures.js';
import { createKnownAddressStore, type KnownAddressStore } from './stores/known-addresses.js';
import { createResetTokenStore, type ResetTokenStore } from './stores/reset-tokens.js';
import { createSessionStore, type SessionStore } from './stores/sessions.js';
import { createSubscriptionStore, type SubscriptionStore } from './stores/subscriptions.js';
import { createTotpStore, type TotpStore } from './stores/totp.js';
import { createUsageCounterStore, type UsageCounterStore } from './stores/usage-counters.js';
import { createUserStore, type UserStore } from './stores/users.js';
import { createBackupCodeHasher, createSecretBox, type BackupCodeHasher, type SecretBox } from './services/totp-crypto.js';
import type { Maintenance } from './jobs/maintenance.js';


/** A failure budget: at most `max` failures per `windowMs`. */
export interface FailureLimit {
  max: number;
  windowMs: number;
}

/** Every limit of the contract, scaled by RATE_LIMIT_SCALE once. */
export interface AuthLimits {
  login: { max: number; timeWindow: number };
  register: { max: number; timeWindow: number };
  passwordReset: { max: number; timeWindow: number };
  loginFailuresPerAccountAndIp: FailureLimit;
  loginFailuresPerAccount: FailureLimit;
  secondFactorFailuresPerUser: FailureLimit;
  billingWebhook: { max: number; timeWindow: number };
}

export function authLimits(config: ResolvedConfig): AuthLimits {
  return {
    login: { max: scaled(10, config), timeWindow: 15 * MINUTE_MS },
    register: { max: scaled(5, config), timeWindow: 60 * MINUTE_MS },
    passwordReset: { max: scaled(5, config), timeWindow: 15 * MINUTE_MS },
    loginFailuresPerAccountAndIp: { max: scaled(5, config), windowMs: 15 * MINUTE_MS },
    loginFailuresPerAccount: { max: scaled(100, config), windowMs: 60 * MINUTE_MS },
    secondFactorFailuresPerUser: { max: scaled(5, config), windowMs: 15 * MINUTE_MS },
    // Deliveries come from the provider's few addresses in bursts; the signature is the gate.
    billingWebhook: { max: scaled(600, config), timeWindow: MINUTE_MS },
  };
}

/** What the app needs from its neighbours (see ports.ts) and knobs tests turn. */
export interface AuthAppOptions {
  /** The Manager rows of a user's org: counted, exported and deleted with the account. */
  orgData?: OrgData;
  /** The Threat Cloud's view of a login's address (AUTH_IP_REPUTATION_CHECK). */
  ipReputation?: IpReputation;
  /** Delays between SMTP retries. */
  mailRetryDelaysMs?: readonly number[];
  /**
   * scrypt cost below the configuration's minimum (2^14): lets test suites that hash on
   * every request run fast. Never set by the process itself.
   */
  scryptLogNOverride?: number;
  /** Hands over the background jobs the app runs, to run them on demand (tests, benchmarks). */
  onJobs?: (jobs: AuthJobs) => void;
}

/** The Auth Server's background jobs: the very instances the app schedules. */
export interface AuthJobs {
  /** Hourly: expired sessions, reset tokens, mail, failure windows and known addresses purged; lapsed plans ended. */
  maintenance: Maintenance;
}

/** Everything the Auth Server's services work with, built once per app. */
export interface AuthContext {
  /** The storage port: every transaction of the Auth Server runs through it. */
  storage: Storage;
  config: ResolvedConfig;
  clock: Clock;
  logger: FastifyBaseLogger;
  limits: AuthLimits;
  users: UserStore;
  sessions: SessionStore;
  totp: TotpStore;
  resetTokens: ResetTokenStore;
  audit: AuditStore;
  failures: FailureStore;
  knownAddresses: KnownAddressStore;
  subscriptions: SubscriptionStore;
  outbox: OutboxStore;
  apiKeys: ApiKeyStore;
  enrollTokens: EnrollTokenStore;
  usage: UsageStore;
  usageCounters: UsageCounterStore;
  orgData: OrgData;
  ipReputation: IpReputation;
  hasher: PasswordHasher;
  secretBox: SecretBox;
  backupCodes: BackupCodeHasher;
  mailer: Mailer;
  /** Work routes do after answering (reset links, duplicate-registration notices). */
  afterResponse: AfterResponse;
}

export function createAuthContext(
  deps: { storage: Storage; config: ResolvedConfig; clock: Clock; logger: FastifyBaseLogger },
  options: AuthAppOptions = {},
): AuthContext {
  const { storage, config, clock, logger } = deps;
  const outbox = createOutboxStore(storage, clock);
  return {
    storage,
    config,
    clock,
    logger,
    limits: authLimits(config),
    users: createUserStore(storage, clock),
    sessions: createSessionStore(storage, clock, config.auth.sessionIdleTimeoutMs),
    totp: createTotpStore(storage, clock),
    resetTokens: createResetTokenStore(storage, clock),
    audit: createAuditStore(storage, clock),
    failures: createFailureStore(storage, clock),
    knownAddresses: createKnownAddressStore(storage, clock),
    subscriptions: createSubscriptionStore(storage, clock),
    outbox,
    apiKeys: createApiKeyStore(storage, clock),
    enrollTokens: createEnrollTokenStore(storage, clock),
    usage: createUsageStore(storage),
    usageCounters: createUsageCounterStore(storage),
    orgData: options.orgData ?? NO_ORG_DATA,
    ipReputation: options.ipReputation ?? NO_IP_REPUTATION,
    hasher: createPasswordHasher(options.scryptLogNOverride ?? config.auth.scryptLogN),
    secretBox: createSecretBox(config.auth.totpEncryptionKey),
    backupCodes: createBackupCodeHasher(config.auth.totpEncryptionKey),
    mailer: createMailer({
      outbox,
      transport: config.auth.smtpUrl ? createSmtpTransport(config.auth.smtpUrl) : null,
      from: config.auth.mailFrom ?? 'Panguard <no-reply@panguard.local>',
      logger,
      ...(options.mailRetryDelaysMs ? { retryDelaysMs: options.mailRetryDelaysMs } : {}),
    }),
    afterResponse: createAfterResponse(logger),
  };
}
