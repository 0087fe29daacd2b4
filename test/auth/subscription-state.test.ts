import t from 'tap';
import { nextSubscriptionState, parseWebhookDelivery, type SubscriptionAttributes } from '../../src/auth/services/subscription-state.js';
import type { SubscriptionRecord } from '../../src/auth/stores/subscriptions.js';
import { AppError } from '../../src/shared/errors.js';

const user = { id: 'usr_1', tier: 'solo' as const, planExpiresAt: '2026-03-01T00:00:00.000Z' };

const stored: SubscriptionRecord = {
  userId: 'usr_1',
  providerSubscriptionId: 'sub_1',
  variantId: '111',
  status: 'active',
  renewsAt: '2026-04-07T12:00:00.000Z',
  endsAt: null,
  lastEventAt: '2026-03-07T12:00:00.000Z',
  updatedAt: '2026-03-07T12:00:01.000Z',
};

const none: SubscriptionAttributes = { variantId: null, status: null, renewsAt: null, endsAt: null, updatedAt: null };

function next(eventName: string, attributes: Partial<SubscriptionAttributes>, existing: SubscriptionRecord | null, variantTier: 'pro' | 'business' | null = null, providerSubscriptionId: string | null = null) {
  const result = nextSubscriptionState({ eventName, providerSubscriptionId, attributes: { ...none, ...attributes } }, user, existing, variantTier);
  if (result.ignored) throw new Error(`unexpectedly ignored: ${result.ignored}`);
  return result.change;
}

t.test('created, updated, resumed and payment_success set the tier of the variant and expire the plan at ends_at, else renews_at', async (t) => {
  for (const eventName of ['subscription_created', 'subscription_updated', 'subscription_resumed', 'subscription_payment_success']) {
    const change = next(eventName, { variantId: '222', status: 'on_trial', renewsAt: '2026-05-01T00:00:00.000Z', updatedAt: '2026-03-08T00:00:00.000Z' }, null, 'business', 'sub_9');
    t.equal(change.tier, 'business', eventName);
    t.equal(change.planExpiresAt, '2026-05-01T00:00:00.000Z', eventName);
    t.same(change.subscription, {
      userId: 'usr_1',
      providerSubscriptionId: 'sub_9',
      variantId: '222',
      status: eventName === 'subscription_payment_success' ? 'active' : 'on_trial',
      renewsAt: '2026-05-01T00:00:00.000Z',
      endsAt: null,
      lastEventAt: '2026-03-08T00:00:00.000Z',
    }, eventName);
  }
  const ending = next('subscription_updated', { renewsAt: '2026-05-01T00:00:00.000Z', endsAt: '2026-04-15T00:00:00.000Z' }, null, 'pro');
  t.equal(ending.planExpiresAt, '2026-04-15T00:00:00.000Z', 'ends_at wins over renews_at');
});

t.test('an event without a variant keeps the tier; without a status it keeps the stored one, else active', async (t) => {
  const kept = next('subscription_updated', { updatedAt: '2026-03-08T00:00:00.000Z' }, { ...stored, status: 'on_trial' });
  t.equal(kept.tier, 'solo');
  t.equal(kept.subscription.status, 'on_trial');
  t.equal(kept.subscription.variantId, '111', 'the stored variant stays');
  t.equal(kept.subscription.providerSubscriptionId, 'sub_1', 'the stored provider id stays');
  t.equal(next('subscription_created', {}, null).subscription.status, 'active');
});

t.test('cancelled keeps the tier until ends_at', async (t) => {
  const change = next('subscription_cancelled', { status: 'whatever', endsAt: '2026-04-01T00:00:00.000Z' }, stored, 'business');
  t.equal(change.tier, 'solo', 'the variant does not change the tier on cancellation');
  t.equal(change.planExpiresAt, '2026-04-01T00:00:00.000Z');
  t.equal(change.subscription.status, 'cancelled');
  const noEnd = next('subscription_cancelled', {}, stored);
  t.equal(noEnd.planExpiresAt, user.planExpiresAt, 'without ends_at the current plan expiry stays');
});

t.test('expired drops to community with no plan expiry', async (t) => {
  const change = next('subscription_expired', { status: 'expired', variantId: '222' }, stored, 'business');
  t.equal(change.tier, 'community');
  t.equal(change.planExpiresAt, null);
  t.equal(change.subscription.status, 'expired');
});

t.test('payment_failed marks past_due, keeps tier, plan expiry and the stored renewsAt', async (t) => {
  const change = next('subscription_payment_failed', { renewsAt: '2026-09-09T00:00:00.000Z', updatedAt: '2026-03-08T00:00:00.000Z' }, stored);
  t.equal(change.tier, 'solo');
  t.equal(change.planExpiresAt, user.planExpiresAt);
  t.equal(change.subscription.status, 'past_due');
  t.equal(change.subscription.renewsAt, '2026-04-07T12:00:00.000Z', 'the stored renewal date, not the one sent');
  const first = next('subscription_payment_failed', { renewsAt: '2026-09-09T00:00:00.000Z' }, null);
  t.equal(first.subscription.renewsAt, '2026-09-09T00:00:00.000Z', 'with nothing stored, the one sent');
});

t.test('payment events without dates inherit the stored renewsAt and endsAt; other events do not', async (t) => {
  const existing = { ...stored, endsAt: '2026-04-20T00:00:00.000Z' };
  const paid = next('subscription_payment_success', {}, existing, 'pro');
  t.equal(paid.subscription.renewsAt, '2026-04-07T12:00:00.000Z');
  t.equal(paid.subscription.endsAt, '2026-04-20T00:00:00.000Z');
  t.equal(paid.planExpiresAt, '2026-04-20T00:00:00.000Z');
  const updated = next('subscription_updated', {}, existing, 'pro');
  t.equal(updated.subscription.renewsAt, null);
  t.equal(updated.subscription.endsAt, null);
  t.equal(updated.planExpiresAt, null);
});

t.test('an event older than the last one applied is ignored; same age or undated is applied', async (t) => {
  const older = nextSubscriptionState({ eventName: 'subscription_updated', providerSubscriptionId: null, attributes: { ...none, updatedAt: '2026-03-07T11:59:59.000Z' } }, user, stored, 'pro');
  t.same(older, { ignored: 'out of order' });
  t.equal(next('subscription_updated', { updatedAt: stored.lastEventAt }, stored, 'pro').tier, 'pro');
  const undated = next('subscription_updated', {}, stored, 'pro');
  t.equal(undated.tier, 'pro');
  t.equal(undated.subscription.lastEventAt, null);
});

t.test('parseWebhookDelivery reads the event, its subscription and its dates', async (t) => {
  const raw = Buffer.from(JSON.stringify({
    meta: { event_name: 'subscription_payment_failed', webhook_id: 'wh_1', custom_data: { user_id: 'usr_1' } },
    data: { id: 'inv_1', attributes: { subscription_id: 42, variant_id: 111, renews_at: '2026-04-07T12:00:00.000000Z', updated_at: 'not a date', status: '' } },
  }));
  t.same(parseWebhookDelivery(raw), {
    eventName: 'subscription_payment_failed',
    deliveryId: 'wh_1',
    handled: true,
    providerSubscriptionId: '42',
    customUserId: 'usr_1',
    attributes: { variantId: '111', status: null, renewsAt: '2026-04-07T12:00:00.000Z', endsAt: null, updatedAt: null },
  });
  const plain = parseWebhookDelivery(Buffer.from(JSON.stringify({ meta: { event_name: 'order_created' }, data: { id: 'sub_7', attributes: { subscription_id: 'sub_8' } } })));
  t.equal(plain.handled, false);
  t.equal(plain.providerSubscriptionId, 'sub_7', 'not a payment event: data.id names the subscription');
  t.match(plain.deliveryId, /^sha256:[0-9a-f]{64}$/, 'without webhook_id the body hash identifies the delivery');
});

t.test('parseWebhookDelivery refuses what is not an event with a 400', async (t) => {
  for (const [body, message] of [
    ['{not json', 'Malformed JSON body'],
    ['null', 'Webhook body must be a JSON object'],
    ['"text"', 'Webhook body must be a JSON object'],
    ['{"meta":{}}', 'meta.event_name is required'],
    ['{"meta":{"event_name":""}}', 'meta.event_name is required'],
  ] as const) {
    t.throws(() => parseWebhookDelivery(Buffer.from(body)), new AppError(400, message), body);
  }
});
