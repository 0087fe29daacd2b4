import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Queryable, type Storage } from '../../shared/db/storage.js';

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

const BY_USER = defineStatement<[userId: string], SubscriptionRow>(`SELECT * FROM subscriptions WHERE user_id = ?`);
const BY_PROVIDER_ID = defineStatement<[providerSubscriptionId: string], SubscriptionRow>(`SELECT * FROM subscriptions WHERE provider_subscription_id = ?`);
type SubscriptionUpsert = Omit<SubscriptionRecord, 'updatedAt'> & { now: string };
const UPSERT = defineStatement<SubscriptionUpsert>(
  `INSERT INTO subscriptions (user_id, provider_subscription_id, variant_id, status, renews_at, ends_at, last_event_at, updated_at)
     VALUES (@userId, @providerSubscriptionId, @variantId, @status, @renewsAt, @endsAt, @lastEventAt, @now)
     ON CONFLICT (user_id) DO UPDATE SET
       provider_subscription_id = coalesce(@providerSubscriptionId, subscriptions.provider_subscription_id),
       variant_id = coalesce(@variantId, subscriptions.variant_id),
       status = @status, renews_at = @renewsAt, ends_at = @endsAt,
       last_event_at = coalesce(@lastEventAt, subscriptions.last_event_at), updated_at = @now`,
);
const DELIVERY_SEEN = defineStatement<[deliveryId: string], { n: number }>(`SELECT count(*) AS n FROM billing_webhook_deliveries WHERE delivery_id = ?`);
const RECORD_DELIVERY = defineStatement<[deliveryId: string, eventName: string, receivedAt: string]>(
  `INSERT INTO billing_webhook_deliveries (delivery_id, event_name, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
);

/**
 * Subscriptions of the payment provider and the webhook deliveries already applied. Methods
 * a transaction needs take its handle first.
 */
export function createSubscriptionStore(storage: Storage, clock: Clock) {
  return {
    async get(userId: string): Promise<SubscriptionRecord | null> {
      const row = await storage.get(BY_USER, [userId]);
      return row ? toSubscription(row) : null;
    },
    async getByProviderId(id: string): Promise<SubscriptionRecord | null> {
      const row = await storage.get(BY_PROVIDER_ID, [id]);
      return row ? toSubscription(row) : null;
    },
    async save(q: Queryable, input: Omit<SubscriptionRecord, 'updatedAt'>): Promise<void> {
      await q.run(UPSERT, { ...input, now: toIso(clock.now()) });
    },
    async deliverySeen(deliveryId: string): Promise<boolean> {
      return (await storage.get(DELIVERY_SEEN, [deliveryId]))!.n > 0;
    },
    /** Records a delivery id; false when it was recorded already (a racing duplicate). */
    async recordDelivery(q: Queryable, deliveryId: string, eventName: string): Promise<boolean> {
      return (await q.run(RECORD_DELIVERY, [deliveryId, eventName, toIso(clock.now())])).changes === 1;
    },
  };
}
export type SubscriptionStore = ReturnType<typeof createSubscriptionStore>;
