import { createHmac } from 'node:crypto';
import { toIso } from '../../shared/clock.js';
import { unauthorized, unavailable } from '../../shared/errors.js';
import { safeEqual } from '../../shared/tokens.js';
import { isTier, type Tier } from '../../shared/tiers.js';
import type { AuthContext } from '../context.js';
import type { SubscriptionRecord } from '../stores/subscriptions.js';
import type { UserRecord } from '../stores/users.js';
import { nextSubscriptionState, parseWebhookDelivery, type SubscriptionChange, type WebhookDelivery } from './subscription-state.js';

export type WebhookResult = { received: true; ignored?: string };

/** Checkout and portal links, the signed provider webhook and the plan-expiry sweep. */
export function createBilling(ctx: AuthContext) {
  const { users, subscriptions, audit } = ctx;
  const billing = ctx.config.auth.billing;

  function fillTemplate(template: string, user: UserRecord, tier: Tier): string {
    return template.replaceAll('{userId}', encodeURIComponent(user.id)).replaceAll('{tier}', encodeURIComponent(tier));
  }

  const applyTx = (deliveryId: string, eventName: string, user: UserRecord, existing: SubscriptionRecord | null, change: SubscriptionChange) =>
    ctx.storage.transaction({ durable: true }, async (tx): Promise<boolean> => {
      if (!(await subscriptions.recordDelivery(tx, deliveryId, eventName))) return false;
      await subscriptions.save(tx, change.subscription);
      await users.setTier(tx, user.id, change.tier, change.planExpiresAt);
      await audit.record(tx, {
        action: `subscription.${eventName.replace(/^subscription_/, '')}`,
        targetId: user.id,
        details: { tier: change.tier, previousTier: user.tier, status: change.subscription.status, previousStatus: existing?.status ?? null },
      });
      return true;
    });

  function verifySignature(raw: Buffer, signature: string | undefined): void {
    const secret = billing.webhookSecret;
    if (!secret) throw unavailable('Billing webhook is not configured');
    const expected = createHmac('sha256', secret).update(raw).digest('hex');
    if (typeof signature !== 'string' || !safeEqual(expected, signature.trim().toLowerCase())) {
      throw unauthorized('Invalid webhook signature');
    }
  }

  /** The stored subscription the event names, else the checkout link's user and their subscription. */
  async function resolveSubscriber(delivery: WebhookDelivery): Promise<{ user: UserRecord; existing: SubscriptionRecord | null } | null> {
    const { providerSubscriptionId } = delivery;
    const bySubscription = providerSubscriptionId ? await subscriptions.getByProviderId(providerSubscriptionId) : null;
    const userId = bySubscription?.userId ?? delivery.customUserId;
    const user = userId ? await users.get(ctx.storage, userId) : null;
    if (!user) return null;
    return { user, existing: bySubscription ?? (await subscriptions.get(user.id)) };
  }

  return {
    async status(user: UserRecord) {
      const subscription = await subscriptions.get(user.id);
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
    async handleWebhook(raw: Buffer, signature: string | undefined): Promise<WebhookResult> {
      verifySignature(raw, signature);
      const delivery = parseWebhookDelivery(raw);
      const { eventName, deliveryId } = delivery;
      if (await subscriptions.deliverySeen(deliveryId)) return { received: true, ignored: 'duplicate delivery' };
      if (!delivery.handled) {
        ctx.logger.info({ eventName }, 'billing webhook: event ignored');
        return { received: true, ignored: 'unsupported event' };
      }

      const subscriber = await resolveSubscriber(delivery);
      if (!subscriber) {
        ctx.logger.warn({ eventName }, 'billing webhook: no matching user');
        return { received: true, ignored: 'unknown user' };
      }
      const { user, existing } = subscriber;

      const { variantId } = delivery.attributes;
      const variantTier = variantId === null ? null : billing.variantTiers[variantId];
      if (variantId !== null && !isTier(variantTier)) {
        ctx.logger.warn({ eventName, variantId }, 'billing webhook: unknown variant refused, tier unchanged');
        return { received: true, ignored: 'unknown variant' };
      }

      const next = nextSubscriptionState(delivery, user, existing, variantTier ?? null);
      if (next.ignored) {
        // Recorded, so a redelivery of the stale event is a duplicate rather than re-judged.
        await subscriptions.recordDelivery(ctx.storage, deliveryId, eventName);
        return { received: true, ignored: next.ignored };
      }
      const applied = await applyTx(deliveryId, eventName, user, existing, next.change);
      return applied ? { received: true } : { received: true, ignored: 'duplicate delivery' };
    },

    /** Drops plans whose expiry has passed to `community`; returns how many. */
    async sweepExpiredPlans(): Promise<number> {
      const now = toIso(ctx.clock.now());
      const expired = await users.withExpiredPlans(now);
      return ctx.storage.transaction({ durable: true }, async (tx) => {
        let dropped = 0;
        for (const user of expired) {
          // A webhook may have renewed the plan since the read: only a plan still ended is dropped.
          if (!(await users.expirePlan(tx, user.id, now))) continue;
          await audit.record(tx, { action: 'subscription.plan_expired', targetId: user.id, details: { previousTier: user.tier, tier: 'community' } });
          dropped += 1;
        }
        return dropped;
      });
    },
  };
}
export type Billing = ReturnType<typeof createBilling>;
