import type { Guards } from '../authenticate.js';
import type { AuthLimits } from '../context.js';
import type { Accounts } from './accounts.js';
import type { Admin } from './admin.js';
import type { UserApiKeys } from './api-keys.js';
import type { Billing } from './billing.js';
import type { UserEnrollTokens } from './enroll-tokens.js';
import type { Gdpr } from './gdpr.js';
import type { Passwords } from './passwords.js';
import type { SecondFactor } from './second-factor.js';
import type { UserSessions } from './sessions.js';
import type { UsageReport } from './usage.js';

/**
 * What the route modules are handed: the domain services, the guards and the rate limits
 * of the contract. Never the stores: a route calls a service.
 */
export interface AuthServices {
  limits: AuthLimits;
  guards: Guards;
  accounts: Accounts;
  passwords: Passwords;
  sessions: UserSessions;
  gdpr: Gdpr;
  secondFactor: SecondFactor;
  usageReport: UsageReport;
  billing: Billing;
  admin: Admin;
  apiKeys: UserApiKeys;
  enrollTokens: UserEnrollTokens;
}
