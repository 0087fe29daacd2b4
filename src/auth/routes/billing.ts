import type { App } from '../../shared/base-app.js';
import { ok, replies } from '../../shared/envelope.js';
import { principal } from '../authenticate.js';
import { BillingStatus, CheckoutBody, Url, WebhookReceived } from '../schemas.js';
import type { AuthServices } from '../services/index.js';
import { BEARER } from '../../shared/openapi-responses.js';


/** Subscription status and links. */
export function registerBillingRoutes(app: App, { billing }: AuthServices): void {
  app.get(
    '/api/billing/status',
    { schema: { operationId: 'getBillingStatus', tags: ['billing'], summary: 'My tier and subscription', security: BEARER, response: replies(BillingStatus) } },
    async (request) => ok(await billing.status(principal(request).user)),
  );

  app.post(
    '/api/billing/checkout',
    { schema: { operationId: 'createCheckout', tags: ['billing'], summary: 'Checkout link for a tier', security: BEARER, body: CheckoutBody, response: replies(Url) } },
    async (request) => ok({ url: billing.checkoutUrl(principal(request).user, request.body.tier) }),
  );

  app.get(
    '/api/billing/portal',
    { schema: { operationId: 'getBillingPortal', tags: ['billing'], summary: 'Customer portal link', security: BEARER, response: replies(Url) } },
    async (request) => ok({ url: billing.portalUrl(principal(request).user) }),
  );
}

/**
 * The payment provider's webhook. Its own encapsulated context keeps the body as the raw
 * bytes (any content type), because the signature covers exactly those bytes.
 */
export async function registerWebhookRoute(app: App, { billing, limits }: AuthServices): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    scope.post(
      '/api/billing/webhook',
      {
        config: { rateLimit: limits.billingWebhook },
        schema: { operationId: 'receiveBillingWebhook', security: [], tags: ['billing'], summary: 'Signed subscription events (X-Signature: hex HMAC-SHA256 of the raw body)', response: replies(WebhookReceived) },
      },
      async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const signature = request.headers['x-signature'];
        return ok(await billing.handleWebhook(raw, typeof signature === 'string' ? signature : undefined));
      },
    );
  });
}
