import type { App } from '../../shared/base-app.js';
import { ok, replies } from '../../shared/envelope.js';
import { scaled } from '../../shared/service-deps.js';
import { principal } from '../authenticate.js';
import { BillingStatus, CheckoutBody, UsageCheck, UsageCheckBody, UsageLimits, UsageSummary, Url, WebhookReceived } from '../schemas.js';
import type { AuthServices } from './services.js';

const bearer = [{ bearer: [] }];

/** Subscription status and links, and usage against the tier's quotas. */
export function registerBillingRoutes(app: App, { billing, usageReport }: AuthServices): void {
  app.get(
    '/api/billing/status',
    { schema: { operationId: 'getBillingStatus', tags: ['billing'], summary: 'My tier and subscription', security: bearer, response: replies(BillingStatus) } },
    async (request) => ok(billing.status(principal(request).user)),
  );

  app.post(
    '/api/billing/checkout',
    { schema: { operationId: 'createCheckout', tags: ['billing'], summary: 'Checkout link for a tier', security: bearer, body: CheckoutBody, response: replies(Url) } },
    async (request) => ok({ url: billing.checkoutUrl(principal(request).user, request.body.tier) }),
  );

  app.get(
    '/api/billing/portal',
    { schema: { operationId: 'getBillingPortal', tags: ['billing'], summary: 'Customer portal link', security: bearer, response: replies(Url) } },
    async (request) => ok({ url: billing.portalUrl(principal(request).user) }),
  );

  app.get(
    '/api/usage',
    { schema: { operationId: 'getUsage', tags: ['usage'], summary: 'My usage this period against my quotas', security: bearer, response: replies(UsageSummary) } },
    async (request) => {
      const { user } = principal(request);
      return ok(usageReport.summary(user.id, user.tier));
    },
  );

  app.get(
    '/api/usage/limits',
    { schema: { operationId: 'getUsageLimits', tags: ['usage'], summary: 'Quotas of my tier (-1 = unlimited)', security: bearer, response: replies(UsageLimits) } },
    async (request) => ok(usageReport.limits(principal(request).user.tier)),
  );

  app.post(
    '/api/usage/check',
    { schema: { operationId: 'checkUsage', tags: ['usage'], summary: 'Would this amount fit my quota? (records nothing)', security: bearer, body: UsageCheckBody, response: replies(UsageCheck) } },
    async (request) => {
      const { user } = principal(request);
      return ok(usageReport.check(user.id, user.tier, request.body.resource, request.body.amount ?? 1));
    },
  );
}

/**
 * The payment provider's webhook. Its own encapsulated context keeps the body as the raw
 * bytes (any content type), because the signature covers exactly those bytes.
 */
export async function registerWebhookRoute(app: App, { billing, ctx }: AuthServices): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    scope.post(
      '/api/billing/webhook',
      {
        // Deliveries come from the provider's few addresses in bursts; the signature is the gate.
        config: { rateLimit: { max: scaled(600, ctx.config), timeWindow: 60_000 } },
        schema: { operationId: 'receiveBillingWebhook', security: [], tags: ['billing'], summary: 'Signed subscription events (X-Signature: hex HMAC-SHA256 of the raw body)', response: replies(WebhookReceived) },
      },
      async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const signature = request.headers['x-signature'];
        return ok(billing.handleWebhook(raw, typeof signature === 'string' ? signature : undefined));
      },
    );
  });
}
