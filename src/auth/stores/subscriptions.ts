import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';

export interface SubscriptionRecord {
  userId: string;
  providerSubscriptionId: string | null;
  variantId: string | null;
  status: string;
  renewsAt: string | null;
  endsAt: string | null;
  lastEventAt: string | null;
  updatedAt: string;
}

interface SubscriptionRow {
  user_id: string;
  provider_subscription_id: string | null;
  variant_id: string | null;
  status: string;
  renews_at: string | null;
  ends_at: string | null;
  last_event_at: string | null;
  updated_at: string;
}

const toSubscription = (row: SubscriptionRow): SubscriptionRecord => ({
  userId: row.user_id,
  providerSubscriptionId: row.provider_subscription_id,
  variantId: row.variant_id,
  status: row.status,
  renewsAt: row.renews_at,
  endsAt: row.ends_at,
  lastEventAt: row.last_event_at,
  updatedAt: row.updated_at,
});

/** Subscriptions of the payment provider and the webhook deliveries already applied. */
export function createSubscriptionStore(db: Db, clock: Clock) {
  const byUser = db.prepare<[string], SubscriptionRow>(`SELECT * FROM subscriptions WHERE user_id = ?`);
  const byProviderId = db.prepare<[string], SubscriptionRow>(`SELECT * FROM subscriptions WHERE provider_subscription_id = ?`);
  const upsert = db.prepare(
    `INSERT INTO subscriptions (user_id, provider_subscription_id, variant_id, status, renews_at, ends_at, last_event_at, updated_at)
     VALUES (@userId, @providerSubscriptionId, @variantId, @status, @renewsAt, @endsAt, @lastEventAt, @now)
     ON CONFLICT (user_id) DO UPDATE SET
       provider_subscription_id = coalesce(@providerSubscriptionId, subscriptions.provider_subscription_id),
       variant_id = coalesce(@variantId, subscriptions.variant_id),
       status = @status, renews_at = @renewsAt, ends_at = @endsAt,
       last_event_at = coalesce(@lastEventAt, subscriptions.last_event_at), updated_at = @now`,
  );
  const deliverySeen = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM billing_webhook_deliveries WHERE delivery_id = ?`);
  const recordDelivery = db.prepare(
    `INSERT INTO billing_webhook_deliveries (delivery_id, event_name, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
  );

  return {
    get(userId: string): SubscriptionRecord | null {
      const row = byUser.get(userId);
      return row ? toSubscription(row) : null;
    },
    getByProviderId(id: string): SubscriptionRecord | null {
      const row = byProviderId.get(id);
      return row ? toSubscription(row) : null;
    },
    save(input: Omit<SubscriptionRecord, 'updatedAt'>): void {
      upsert.run({ ...input, now: toIso(clock.now()) });
    },
    deliverySeen(deliveryId: string): boolean {
      return deliverySeen.get(deliveryId)!.n > 0;
    },
    /** Records a delivery id; false when it was recorded already (a racing duplicate). */
    recordDelivery(deliveryId: string, eventName: string): boolean {
      return recordDelivery.run(deliveryId, eventName, toIso(clock.now())).changes === 1;
    },
  };
}
export type SubscriptionStore = ReturnType<typeof createSubscriptionStore>;
