import { createHmac } from 'node:crypto';
import { createApiKeyStore } from '../../src/shared/api-keys.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { buildAuth, buildAuthOn, countIn, onBothEngines, register, seedAgentIn } from './fixtures.js';
import { execute, selectRows, storageOn } from '../engines.js';
import { testConfig, testDb } from '../helper.js';

const SECRET = 'whsec_test_0123456789';
const BILLING_ENV = {
  BILLING_WEBHOOK_SECRET: SECRET,
  BILLING_VARIANT_TIERS: JSON.stringify({ '111': 'pro', '222': 'business' }),
  BILLING_CHECKOUT_URL: 'https://pay.example.com/checkout?user={userId}&plan={tier}',
  BILLING_PORTAL_URL: 'https://pay.example.com/portal/{userId}',
};

const sign = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');

function event(name: string, userId: string, attributes: Record<string, unknown>, extra: { webhookId?: string; id?: string } = {}) {
  return JSON.stringify({
    meta: { event_name: name, custom_data: { user_id: userId }, ...(extra.webhookId ? { webhook_id: extra.webhookId } : {}) },
    data: { id: extra.id ?? 'sub_1', type: 'subscriptions', attributes },
  });
}

onBothEngines('billing status, checkout and portal', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine, { env: BILLING_ENV });
  const account = await register(app);
  const status = await app.inject({ url: '/api/billing/status', headers: account.headers });
  t.same(status.json().data, { tier: 'community', status: 'none', renewsAt: null, endsAt: null, planExpiresAt: null });
  const checkout = await app.inject({ method: 'POST', url: '/api/billing/checkout', headers: account.headers, payload: { tier: 'pro' } });
  t.equal(checkout.statusCode, 200);
  t.equal(checkout.json().data.url, `https://pay.example.com/checkout?user=${account.id}&plan=pro`);
  const unknown = await app.inject({ method: 'POST', url: '/api/billing/checkout', headers: account.headers, payload: { tier: 'platinum' } });
  t.equal(unknown.statusCode, 400);
  t.equal(unknown.json().error, 'tier must be one of solo, pro, business, enterprise');
  const portal = await app.inject({ url: '/api/billing/portal', headers: account.headers });
  t.equal(portal.json().data.url, `https://pay.example.com/portal/${account.id}`);
  t.equal((await app.inject({ url: '/api/billing/status' })).statusCode, 401);
});

onBothEngines('billing links and webhook answer 503 when not configured', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine);
  const account = await register(app);
  t.equal((await app.inject({ method: 'POST', url: '/api/billing/checkout', headers: account.headers, payload: { tier: 'pro' } })).statusCode, 503);
  t.equal((await app.inject({ url: '/api/billing/portal', headers: account.headers })).statusCode, 503);
  const body = event('subscription_created', account.id, { variant_id: 111 });
  const hook = await app.inject({ method: 'POST', url: '/api/billing/webhook', headers: { 'content-type': 'application/json', 'x-signature': sign(body) }, payload: body });
  t.equal(hook.statusCode, 503);
});

onBothEngines('webhook: signature over the raw bytes, timing-safe; bad signatures change nothing', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine, { env: BILLING_ENV });
  const account = await register(app);
  const body = event('subscription_created', account.id, { variant_id: 111, status: 'active', renews_at: '2026-04-07T12:00:00.000000Z', updated_at: '2026-03-07T12:00:00Z' }, { webhookId: 'wh_1' });
  for (const signature of [undefined, 'deadbeef', sign(body, 'other secret'), sign(`${body} `)]) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/billing/webhook',
      headers: { 'content-type': 'application/json', ...(signature ? { 'x-signature': signature } : {}) },
      payload: body,
    });
    t.equal(res.statusCode, 401);
    t.equal(res.json().error, 'Invalid webhook signature');
  }
  t.equal(await countIn(storage, 'subscriptions'), 0);
  // Same JSON, different bytes: the signature must be over exactly what was sent.
  const spaced = body.replace('{', '{ ');
  const res = await app.inject({ method: 'POST', url: '/api/billing/webhook', headers: { 'content-type': 'application/json', 'x-signature': sign(spaced) }, payload: spaced });
  t.equal(res.statusCode, 200);
  t.same(res.json().data, { received: true });
  const me = await app.inject({ url: '/api/auth/me', headers: account.headers });
  t.equal(me.json().data.tier, 'pro', 'tier set, token still valid (tier change revokes nothing)');
  const status = (await app.inject({ url: '/api/billing/status', headers: account.headers })).json().data;
  t.equal(status.status, 'active');
  t.equal(status.renewsAt, '2026-04-07T12:00:00.000Z');
  t.equal(status.planExpiresAt, '2026-04-07T12:00:00.000Z');
});

onBothEngines('webhook: replayed deliveries, unknown variant, out-of-order events, lifecycle', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine, { env: BILLING_ENV });
  const account = await register(app);
  const send = (body: string) =>
    app.inject({ method: 'POST', url: '/api/billing/webhook', headers: { 'content-type': 'application/json', 'x-signature': sign(body) }, payload: body });
  const tier = async () => (await app.inject({ url: '/api/auth/me', headers: account.headers })).json().data.tier;

  const created = event('subscription_created', account.id, { variant_id: 111, status: 'active', renews_at: '2026-04-07T12:00:00Z', updated_at: '2026-03-07T12:00:00Z' }, { webhookId: 'wh_a' });
  t.same((await send(created)).json().data, { received: true });
  t.equal(await tier(), 'pro');

  const replay = event('subscription_updated', account.id, { variant_id: 222, status: 'active', updated_at: '2026-03-07T13:00:00Z' }, { webhookId: 'wh_a' });
  const replayed = await send(replay);
  t.equal(replayed.statusCode, 200);
  t.equal(replayed.json().data.received, true);
  t.equal(await tier(), 'pro', 'a delivery id already processed changes nothing, even with another body');

  const sameBodyTwice = event('subscription_updated', account.id, { variant_id: 222, status: 'active', updated_at: '2026-03-07T14:00:00Z' });
  await send(sameBodyTwice);
  t.equal(await tier(), 'business');
  await execute(storage, `UPDATE users SET tier = 'solo' WHERE id = ?`, [account.id]);
  await send(sameBodyTwice);
  t.equal(await tier(), 'solo', 'without webhook_id the body hash identifies the delivery');

  const unknownVariant = await send(event('subscription_updated', account.id, { variant_id: 999, status: 'active', updated_at: '2026-03-07T15:00:00Z' }, { webhookId: 'wh_u' }));
  t.same(unknownVariant.json().data, { received: true, ignored: 'unknown variant' });
  t.equal(await tier(), 'solo', 'unknown variant refused, tier unchanged');

  const older = await send(event('subscription_updated', account.id, { variant_id: 111, status: 'active', updated_at: '2026-03-07T13:30:00Z' }, { webhookId: 'wh_old' }));
  t.equal(older.statusCode, 200);
  t.equal(await tier(), 'solo', 'an event older than the last applied one is ignored');

  const failed = await send(JSON.stringify({ meta: { event_name: 'subscription_payment_failed', webhook_id: 'wh_pf' }, data: { id: 'inv_1', attributes: { subscription_id: 'sub_1', updated_at: '2026-03-08T00:00:00Z' } } }));
  t.equal(failed.statusCode, 200);
  t.equal((await app.inject({ url: '/api/billing/status', headers: account.headers })).json().data.status, 'past_due', 'payment event found the subscription by subscription_id');
  t.equal(await tier(), 'solo', 'payment event without variant keeps the tier');

  await send(event('subscription_cancelled', account.id, { variant_id: 222, status: 'cancelled', ends_at: '2026-04-01T00:00:00Z', updated_at: '2026-03-09T00:00:00Z' }, { webhookId: 'wh_c' }));
  const cancelled = (await app.inject({ url: '/api/billing/status', headers: account.headers })).json().data;
  t.equal(cancelled.status, 'cancelled');
  t.equal(cancelled.planExpiresAt, '2026-04-01T00:00:00.000Z');
  t.equal(await tier(), 'solo', 'cancelled keeps the tier until ends_at');

  await send(event('subscription_expired', account.id, { variant_id: 222, status: 'expired', updated_at: '2026-04-01T00:00:01Z' }, { webhookId: 'wh_e' }));
  t.equal(await tier(), 'community');
  const audit = await selectRows<{ action: string }>(storage, `SELECT action FROM audit_log WHERE action LIKE 'subscription.%' ORDER BY rowid`);
  t.ok(audit.length >= 4, 'subscription events audited');

  const garbage = '{not json';
  t.equal((await send(garbage)).statusCode, 400);
});

onBothEngines('hourly sweep drops expired plans to community', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, storage, clock } = fixture;
  const account = await register(app);
  await execute(storage, `UPDATE users SET tier = 'pro', plan_expires_at = ? WHERE id = ?`, [new Date(clock.now() + 60_000).toISOString(), account.id]);
  t.equal((await fixture.jobs.maintenance.run()).plansExpired, 0);
  clock.advance(61_000);
  t.equal((await fixture.jobs.maintenance.run()).plansExpired, 1);
  const me = (await app.inject({ url: '/api/auth/me', headers: account.headers })).json().data;
  t.equal(me.tier, 'community');
});

onBothEngines('a plan renewed between the sweep\'s read and its write keeps its tier', async (t, engine) => {
  const postgres = await storageOn(engine);
  const inner = postgres ?? sqliteStorageOf(testDb(t, testConfig(t)));
  let renewal: (() => Promise<void>) | null = null;
  // The storage as the app sees it, with a webhook's renewal committing right after the sweep
  // has read which plans ended (the window between its read and its transaction).
  const storage = new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (property !== 'all') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return async (statement: { sql: string }, ...params: unknown[]) => {
        const rows = await (target.all as (...a: unknown[]) => Promise<unknown[]>)(statement, ...params);
        if (renewal && statement.sql.includes('plan_expires_at <=')) {
          const renew = renewal;
          renewal = null;
          await renew();
        }
        return rows;
      };
    },
  });
  const fixture = await buildAuth(t, { storage });
  const { app, clock } = fixture;
  const renewed = await register(app, { email: 'renewed@example.com' });
  const lapsed = await register(app, { email: 'lapsed@example.com' });
  for (const account of [renewed, lapsed]) {
    await execute(inner, `UPDATE users SET tier = 'pro', plan_expires_at = ? WHERE id = ?`, [new Date(clock.now() + 60_000).toISOString(), account.id]);
  }
  clock.advance(61_000);
  const nextMonth = new Date(clock.now() + 30 * 86_400_000).toISOString();
  renewal = async () => void (await execute(inner, `UPDATE users SET plan_expires_at = ? WHERE id = ?`, [nextMonth, renewed.id]));
  t.equal((await fixture.jobs.maintenance.run()).plansExpired, 1, 'only the plan still ended');
  t.equal(renewal, null, 'the renewal ran inside the window');
  const tiers = await selectRows<{ email: string; tier: string; plan_expires_at: string | null }>(inner, `SELECT email, tier, plan_expires_at FROM users ORDER BY email`);
  t.same(tiers, [
    { email: 'lapsed@example.com', tier: 'community', plan_expires_at: null },
    { email: 'renewed@example.com', tier: 'pro', plan_expires_at: nextMonth },
  ]);
  const audited = await selectRows<{ target_id: string }>(inner, `SELECT target_id FROM audit_log WHERE action = 'subscription.plan_expired'`);
  t.same(audited.map((row) => row.target_id), [lapsed.id], 'only the dropped plan is audited');
});

onBothEngines('usage: summary, limits, check; the api_keys count follows the keys', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const account = await register(app);
  await execute(storage, `INSERT INTO usage_counters (user_id, resource, period, count) VALUES (?, 'api_calls', '2026-03', 250)`, [account.id]);
  await execute(storage, `INSERT INTO usage_counters (user_id, resource, period, count) VALUES (?, 'api_calls', '2026-02', 999)`, [account.id]);
  await seedAgentIn(storage, { id: 'agent-1', orgId: account.id });
  await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload: { name: 'k' } });
  const summary = (await app.inject({ url: '/api/usage', headers: account.headers })).json().data;
  t.equal(summary.tier, 'community');
  t.equal(summary.period, '2026-03');
  const byName = Object.fromEntries(summary.resources.map((r: { resource: string }) => [r.resource, r]));
  t.same(byName.api_calls, { resource: 'api_calls', current: 250, limit: 1000, remaining: 750, percentage: 25 });
  t.same(byName.guard_endpoints, { resource: 'guard_endpoints', current: 1, limit: 1, remaining: 0, percentage: 100 });
  t.same(byName.api_keys, { resource: 'api_keys', current: 1, limit: 1, remaining: 0, percentage: 100 });
  t.same(byName.reports, { resource: 'reports', current: 0, limit: 0, remaining: 0, percentage: 0 });
  const limits = (await app.inject({ url: '/api/usage/limits', headers: account.headers })).json().data;
  t.same(limits, { tier: 'community', limits: { api_calls: 1000, guard_endpoints: 1, api_keys: 1, reports: 0 } });
  await execute(storage, `UPDATE users SET tier = 'enterprise' WHERE id = ?`, [account.id]);
  const unlimited = (await app.inject({ url: '/api/usage/limits', headers: account.headers })).json().data;
  t.same(unlimited.limits, { api_calls: -1, guard_endpoints: -1, api_keys: -1, reports: -1 });
  await execute(storage, `UPDATE users SET tier = 'community' WHERE id = ?`, [account.id]);
  const check = async (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/usage/check', headers: account.headers, payload });
  t.same((await check({ resource: 'api_calls', amount: 750 })).json().data, { allowed: true, current: 250, limit: 1000, remaining: 750 });
  t.equal((await check({ resource: 'api_calls', amount: 751 })).json().data.allowed, false);
  t.equal((await check({ resource: 'api_keys' })).json().data.allowed, false);
  const bad = await check({ resource: 'coffee' });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error, 'resource must be one of api_calls, guard_endpoints, api_keys, reports');
  t.equal((await check({ resource: 'api_calls', amount: 0 })).statusCode, 400);
  t.equal((await check({ resource: 'api_calls', amount: '5' })).statusCode, 400, 'no coercion');
  t.equal((await check({ resource: 'api_calls', amount: 1 })).json().data.current, 250, 'check records nothing');
});

onBothEngines('API keys: pgk_ keys stored hashed, scopes by tier, quota, revocation visible to the Threat Cloud', async (t, engine) => {
  const { app, storage, clock } = await buildAuthOn(t, engine);
  const account = await register(app);
  const store = createApiKeyStore(storage, clock);
  const write = await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload: { name: 'w', scopes: ['write'] } });
  t.equal(write.statusCode, 403);
  t.equal(write.json().error, 'Contributing intelligence requires the solo tier or higher');
  const created = await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload: { name: 'reader' } });
  t.equal(created.statusCode, 201);
  const key = created.json().data;
  t.match(key.key, /^pgk_[0-9A-Za-z]{40}$/);
  t.same(key.scopes, ['read']);
  t.equal(key.tier, 'community');
  t.equal(key.prefix, key.key.slice(0, 8));
  t.notOk(JSON.stringify(await selectRows(storage, `SELECT * FROM api_keys`)).includes(key.key), 'only the hash is stored');
  t.equal((await store.verify(key.key))?.ownerUserId, account.id, 'the Threat Cloud can verify it');
  const quota = await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload: { name: 'second' } });
  t.equal(quota.statusCode, 403);
  t.equal(quota.json().error, 'Quota exceeded for api_keys on the community tier');
  const list = await app.inject({ url: '/api/auth/api-keys', headers: account.headers });
  t.equal(list.json().data.length, 1);
  t.notOk(list.body.includes(key.key), 'list has no secret');
  for (const payload of [{ name: '' }, { name: 'x'.repeat(101) }, { name: 'a', scopes: ['admin'] }, { name: 'a', scopes: [] }, { name: 5 }]) {
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload })).statusCode, 400, JSON.stringify(payload));
  }

  await execute(storage, `UPDATE users SET tier = 'solo' WHERE id = ?`, [account.id]);
  const solo = (await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload: { name: 'writer' } })).json().data;
  t.same(solo.scopes, ['read', 'write'], 'default read+write above community');
  t.same((await store.verify(solo.key))?.scopes, ['read', 'write']);
  await execute(storage, `UPDATE users SET tier = 'community' WHERE id = ?`, [account.id]);
  t.same((await store.verify(solo.key))?.scopes, ['read'], 'write lost at once on downgrade');
  t.equal((await store.verify(key.key))?.tier, 'community');

  const other = await register(app);
  t.equal((await app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${key.id}`, headers: other.headers })).statusCode, 404, "cannot revoke another user's key");
  const revoke = await app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${key.id}`, headers: account.headers });
  t.equal(revoke.statusCode, 200);
  t.same(revoke.json().data, { revoked: true });
  t.equal(await store.verify(key.key), null, 'revoked key stops working at once');
  t.equal((await app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${key.id}`, headers: account.headers })).statusCode, 404);
  const actions = await selectRows<{ action: string; details: string }>(storage, `SELECT action, details FROM audit_log WHERE action LIKE 'api_key.%'`);
  t.equal(actions.length, 3);
  t.notOk(actions.some((a) => a.details.includes(key.key)), 'audit has no secret');
});
