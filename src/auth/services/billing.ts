import { createHmac } from 'node:crypto';
import { toIso } from '../../shared/clock.js';
import { badRequest, unauthorized, unavailable } from '../../shared/errors.js';
import { safeEqual, sha256Hex } from '../../shared/tokens.js';
import { isTier, type Tier } from '../../shared/tiers.js';
import type { AuthContext } from '../context.js';
import type { SubscriptionRecord } from '../stores/subscriptions.js';
import type { UserRecord } from '../stores/users.js';
import { durableTransaction } from '../../shared/db/durable.js';

const SETS_TIER = new Set(['subscription_created', 'subscription_updated', 'subscription_resumed', 'subscription_payment_success']);
const HANDLED = new Set([...SETS_TIER, 'subscription_cancelled', 'subscription_expired', 'subscription_payment_failed']);

interface WebhookEvent {
  meta?: { event_name?: unknown; webhook_id?: unknown; custom_data?: { user_id?: unknown } };
  data?: {
    id?: unknown;
    attributes?: {
      variant_id?: unknown;
      status?: unknown;
      renews_at?: unknown;
      ends_at?: unknown;
      updated_at?: unknown;
      subscription_id?: unknown;
    };
  };
}

const text = (value: unknown): string | null =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : null;

/** An ISO timestamp from the provider, normalised; null when absent or unreadable. */
function instant(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : toIso(ms);
}

export type WebhookResult = { received: true; ignored?: string };

/** Checkout and portal links, the signed provider webhook and the plan-expiry sweep. */
export function createBilling(ctx: AuthContext) {
  const { users, subscriptions, audit } = ctx;
  const billing = ctx.config.auth.billing;

  function fillTemplate(template: string, user: UserRecord, tier: Tier): string {
    return template.replaceAll('{userId}', encodeURIComponent(user.id)).replaceAll('{tier}', encodeURIComponent(tier));
  }

  const applyTx = durableTransaction(ctx.db, 
    (deliveryId: string, eventName: string, user: UserRecord, existing: SubscriptionRecord | null, change: {
      tier: Tier;
      planExpiresAt: string | null;
      subscription: Omit<SubscriptionRecord, 'updatedAt'>;
    }): boolean => {
      if (!subscriptions.recordDelivery(deliveryId, eventName)) return false;
      subscriptions.save(change.subscription);
      users.setTier(user.id, change.tier, change.planExpiresAt);
      audit.record({
        action: `subscription.${eventName.replace(/^subscription_/, '')}`,
        targetId: user.id,
        details: { tier: change.tier, previousTier: user.tier, status: change.subscription.status, previousStatus: existing?.status ?? null },
      });
      return true;
    },
  );

  function verifySignature(raw: Buffer, signature: string | undefined): void {
    const secret = billing.webhookSecret;
    if (!secret) throw unavailable('Billing webhook is not configured');
    const expected = createHmac('sha256', secret).update(raw).digest('hex');
    if (typeof signature !== 'string' || !safeEqual(expected, signature.trim().toLowerCase())) {
      throw unauthorized('Invalid webhook signature');
    }
  }

  return {
    status(user: UserRecord) {
      const subscription = subscriptions.get(user.id);
      return {
        tier: user.tier,
        status: subscription?.status ?? 'none',
        renewsAt: subscription?.renewsAt ?? null,
        endsAt: subscription?.endsAt ?? null,
        planExpiresAt: user.planExpiresAt,
      };
    },

    checkoutUrl(user: UserRecord, tier: Tier): string {
      if (!billing.checkoutUrl) throw unavailable('Billing checkout is not configured');
      return fillTemplate(billing.checkoutUrl, user, tier);
    },

    portalUrl(user: UserRecord): string {
      if (!billing.portalUrl) throw unavailable('Billing portal is not configured');
      return fillTemplate(billing.portalUrl, user, user.tier);
    },

    /**
     * One provider delivery: signature over the exact bytes, then idempotency by delivery
     * id, then ordering by `updated_at` per subscription, then the event's effect.
     */
    handleWebhook(raw: Buffer, signature: string | undefined): WebhookResult {
      verifySignature(raw, signature);
      let event: WebhookEvent;
      try {
        event = JSON.parse(raw.toString('utf8')) as WebhookEvent;
      } catch {
        throw badRequest('Malformed JSON body');
      }
      if (typeof event !== 'object' || event === null) throw badRequest('Webhook body must be a JSON object');
      const eventName = text(event.meta?.event_name);
      if (!eventName) throw badRequest('meta.event_name is required');
      const deliveryId = text(event.meta?.webhook_id) ?? `sha256:${sha256Hex(raw)}`;
      if (subscriptions.deliverySeen(deliveryId)) return { received: true, ignored: 'duplicate delivery' };
      if (!HANDLED.has(eventName)) {
        ctx.logger.info({ eventName }, 'billing webhook: event ignored');
        return { received: true, ignored: 'unsupported event' };
      }

      const attributes = event.data?.attributes ?? {};
      const isPayment = eventName.startsWith('subscription_payment_');
      const providerSubscriptionId = isPayment ? text(attributes.subscription_id) : text(event.data?.id);
      const bySubscription = providerSubscriptionId ? subscriptions.getByProviderId(providerSubscriptionId) : null;
      const userId = bySubscription?.userId ?? text(event.meta?.custom_data?.user_id);
      const user = userId ? users.get(userId) : null;
      if (!user) {
        ctx.logger.warn({ eventName }, 'billing webhook: no matching user');
        return { received: true, ignored: 'unknown user' };
      }
      const existing = bySubscription ?? subscriptions.get(user.id);

      const variantId = text(attributes.variant_id);
      let variantTier: Tier | null = null;
      if (variantId !== null) {
        const mapped = billing.variantTiers[variantId];
        if (!isTier(mapped)) {
          ctx.logger.warn({ eventName, variantId }, 'billing webhook: unknown variant refused, tier unchanged');
          return { received: true, ignored: 'unknown variant' };
        }
        variantTier = mapped;
      }

      const updatedAt = instant(attributes.updated_at);
      if (updatedAt && existing?.lastEventAt && updatedAt < existing.lastEventAt) {
        subscriptions.recordDelivery(deliveryId, eventName);
        return { received: true, ignored: 'out of order' };
      }

      const renewsAt = instant(attributes.renews_at) ?? (isPayment ? (existing?.renewsAt ?? null) : null);
      const endsAt = instant(attributes.ends_at) ?? (isPayment ? (existing?.endsAt ?? null) : null);
      const providerStatus = text(attributes.status);
      let tier: Tier = user.tier;
      let planExpiresAt = user.planExpiresAt;
      let status = providerStatus ?? existing?.status ?? 'active';
      if (SETS_TIER.has(eventName)) {
        tier = variantTier ?? user.tier;
        planExpiresAt = endsAt ?? renewsAt;
        if (eventName === 'subscription_payment_success') status = 'active';
      } else if (eventName === 'subscription_cancelled') {
        status = 'cancelled';
        planExpiresAt = endsAt ?? planExpiresAt;
      } else if (eventName === 'subscription_expired') {
        tier = 'community';
        planExpiresAt = null;
        status = 'expired';
      } else if (eventName === 'subscription_payment_failed') {
        status = 'past_due';
      }

      const applied = applyTx(deliveryId, eventName, user, existing, {
        tier,
        planExpiresAt,
        subscription: {
          userId: user.id,
          providerSubscriptionId: providerSubscriptionId ?? existing?.providerSubscriptionId ?? null,
          variantId: variantId ?? existing?.variantId ?? null,
          status,
          renewsAt: eventName === 'subscription_payment_failed' ? (existing?.renewsAt ?? renewsAt) : renewsAt,
          endsAt,
          lastEventAt: updatedAt,
        },
      });
      return applied ? { received: true } : { received: true, ignored: 'duplicate delivery' };
    },

    /** Drops plans whose expiry has passed to `community`; returns how many. */
    sweepExpiredPlans(): number {
      const now = toIso(ctx.clock.now());
      const expired = users.withExpiredPlans(now);
      const drop = durableTransaction(ctx.db, () => {
        for (const user of expired) {
          users.setTier(user.id, 'community', null);
          audit.record({ action: 'subscription.plan_expired', targetId: user.id, details: { previousTier: user.tier, tier: 'community' } });
        }
      });
      drop();
      return expired.length;
    },
  };
}
export type Billing = ReturnType<typeof createBilling>;
