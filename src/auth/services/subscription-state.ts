import { toIso } from '../../shared/clock.js';
import { badRequest } from '../../shared/errors.js';
import { sha256Hex } from '../../shared/tokens.js';
import type { Tier } from '../../shared/tiers.js';
import type { SubscriptionRecord } from '../stores/subscriptions.js';
import type { UserRecord } from '../stores/users.js';

const SETS_TIER = new Set(['subscription_created', 'subscription_updated', 'subscription_resumed', 'subscription_payment_success']);
const HANDLED = new Set([...SETS_TIER, 'subscription_cancelled', 'subscription_expired', 'subscription_payment_failed']);

/** The provider's delivery as it arrives: every field is untrusted until read through `text`/`instant`. */
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

/** What a subscription event's attributes say, read and normalised. */
export interface SubscriptionAttributes {
  variantId: string | null;
  status: string | null;
  renewsAt: string | null;
  endsAt: string | null;
  updatedAt: string | null;
}

/** A signed delivery, parsed: what it is, who it names, and what it says. */
export interface WebhookDelivery {
  eventName: string;
  /** The provider's webhook id, else the hash of the exact bytes. */
  deliveryId: string;
  /** False for events this service does not act on (acknowledged, not applied). */
  handled: boolean;
  /** Payment events name their subscription in `subscription_id`, the others in `data.id`. */
  providerSubscriptionId: string | null;
  /** `meta.custom_data.user_id`: the checkout link's user, for a subscription not yet stored. */
  customUserId: string | null;
  attributes: SubscriptionAttributes;
}

const text = (value: unknown): string | null =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : null;

/** An ISO timestamp from the provider, normalised; null when absent or unreadable. */
function instant(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : toIso(ms);
}

/** Reads a delivery whose signature has been checked; a body that is not an event is a 400. */
export function parseWebhookDelivery(raw: Buffer): WebhookDelivery {
  let event: WebhookEvent;
  try {
    event = JSON.parse(raw.toString('utf8')) as WebhookEvent;
  } catch {
    throw badRequest('Malformed JSON body');
  }
  if (typeof event !== 'object' || event === null) throw badRequest('Webhook body must be a JSON object');
  const eventName = text(event.meta?.event_name);
  if (!eventName) throw badRequest('meta.event_name is required');
  const attributes = event.data?.attributes ?? {};
  return {
    eventName,
    deliveryId: text(event.meta?.webhook_id) ?? `sha256:${sha256Hex(raw)}`,
    handled: HANDLED.has(eventName),
    providerSubscriptionId: isPaymentEvent(eventName) ? text(attributes.subscription_id) : text(event.data?.id),
    customUserId: text(event.meta?.custom_data?.user_id),
    attributes: {
      variantId: text(attributes.variant_id),
      status: text(attributes.status),
      renewsAt: instant(attributes.renews_at),
      endsAt: instant(attributes.ends_at),
      updatedAt: instant(attributes.updated_at),
    },
  };
}

const isPaymentEvent = (eventName: string) => eventName.startsWith('subscription_payment_');

export interface SubscriptionChange {
  tier: Tier;
  planExpiresAt: string | null;
  subscription: Omit<SubscriptionRecord, 'updatedAt'>;
}

export type NextSubscriptionState = { ignored: 'out of order' } | { ignored?: undefined; change: SubscriptionChange };

/**
 * What a handled event does to the user's tier and subscription, given what is stored.
 * `variantTier` is the tier of the event's variant (null when it names none). An event
 * older than the last one applied changes nothing; payment events carry no dates of their
 * own, so they keep the stored ones.
 */
export function nextSubscriptionState(
  delivery: Pick<WebhookDelivery, 'eventName' | 'providerSubscriptionId' | 'attributes'>,
  user: Pick<UserRecord, 'id' | 'tier' | 'planExpiresAt'>,
  existing: SubscriptionRecord | null,
  variantTier: Tier | null,
): NextSubscriptionState {
  const { eventName, attributes } = delivery;
  const { updatedAt } = attributes;
  if (updatedAt && existing?.lastEventAt && updatedAt < existing.lastEventAt) return { ignored: 'out of order' };

  const isPayment = isPaymentEvent(eventName);
  const renewsAt = attributes.renewsAt ?? (isPayment ? (existing?.renewsAt ?? null) : null);
  const endsAt = attributes.endsAt ?? (isPayment ? (existing?.endsAt ?? null) : null);
  let tier: Tier = user.tier;
  let planExpiresAt = user.planExpiresAt;
  let status = attributes.status ?? existing?.status ?? 'active';
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

  return {
    change: {
      tier,
      planExpiresAt,
      subscription: {
        userId: user.id,
        providerSubscriptionId: delivery.providerSubscriptionId ?? existing?.providerSubscriptionId ?? null,
        variantId: attributes.variantId ?? existing?.variantId ?? null,
        status,
        renewsAt: eventName === 'subscription_payment_failed' ? (existing?.renewsAt ?? renewsAt) : renewsAt,
        endsAt,
        lastEventAt: updatedAt,
      },
    },
  };
}
