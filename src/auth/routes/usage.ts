import type { App } from '../../shared/base-app.js';
import { ok, replies } from '../../shared/envelope.js';
import { principal } from '../authenticate.js';
import { UsageCheck, UsageCheckBody, UsageLimits, UsageSummary } from '../schemas.js';
import type { AuthServices } from '../services/index.js';
import { BEARER } from '../../shared/openapi-responses.js';


/** Usage against the tier's quotas. */
export function registerUsageRoutes(app: App, { usageReport }: AuthServices): void {
  app.get(
    '/api/usage',
    { schema: { operationId: 'getUsage', tags: ['usage'], summary: 'My usage this period against my quotas', security: BEARER, response: replies(UsageSummary) } },
    async (request) => {
      const { user } = principal(request);
      return ok(await usageReport.summary(user.id, user.tier));
    },
  );

  app.get(
    '/api/usage/limits',
    { schema: { operationId: 'getUsageLimits', tags: ['usage'], summary: 'Quotas of my tier (-1 = unlimited)', security: BEARER, response: replies(UsageLimits) } },
    async (request) => ok(usageReport.limits(principal(request).user.tier)),
  );

  app.post(
    '/api/usage/check',
    { schema: { operationId: 'checkUsage', tags: ['usage'], summary: 'Would this amount fit my quota? (records nothing)', security: BEARER, body: UsageCheckBody, response: replies(UsageCheck) } },
    async (request) => {
      const { user } = principal(request);
      return ok(await usageReport.check(user.id, user.tier, request.body.resource, request.body.amount ?? 1));
    },
  );
}
