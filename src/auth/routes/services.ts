import type { FastifyRequest } from 'fastify';
import type { Guards } from '../authenticate.js';
import type { AuthContext } from '../context.js';
import type { Accounts } from '../services/accounts.js';
import type { Admin } from '../services/admin.js';
import type { UserApiKeys } from '../services/api-keys.js';
import type { Billing } from '../services/billing.js';
import type { UserEnrollTokens } from '../services/enroll-tokens.js';
import type { SecondFactor } from '../services/second-factor.js';
import type { UsageReport } from '../services/usage.js';

/** What the route modules are handed: the domain services and the guards. */
export interface AuthServices {
  ctx: AuthContext;
  guards: Guards;
  accounts: Accounts;
  secondFactor: SecondFactor;
  usageReport: UsageReport;
  billing: Billing;
  admin: Admin;
  apiKeys: UserApiKeys;
  enrollTokens: UserEnrollTokens;
}

/**
 * E-mail addresses are trimmed and lower-cased, and names trimmed, before validation, so
 * `" A@B.io "` and `"a@b.io"` are one account. Runs as the first preValidation hook.
 */
export async function normaliseIdentity(request: FastifyRequest): Promise<void> {
  const body = request.body as Record<string, unknown> | null | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  if (typeof body.email === 'string') body.email = body.email.trim().toLowerCase();
  if (typeof body.name === 'string') body.name = body.name.trim();
}
