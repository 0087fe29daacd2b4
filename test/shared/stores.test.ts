import t, { type Test } from 'tap';
import { createApiKeyStore } from '../../src/shared/api-keys.js';
import { ManualClock } from '../../src/shared/clock.js';
import { createUsageStore } from '../../src/shared/usage.js';
import { bearerToken, maskSecret, newSecretToken, safeEqual } from '../../src/shared/tokens.js';
import { execute, onBothEngines, selectRows, type Engine } from '../engines.js';
import { seedUserIn } from '../seed.js';
import { bareStorageOn } from '../threat-cloud/fixtures.js';

/** The real stores over a migrated database of the engine, with one community user. */
async function setup(t: Test, engine: Engine) {
  const storage = await bareStorageOn(t, engine);
  await seedUserIn(storage, { id: 'usr_a', tier: 'community' });
  return { storage, keys: createApiKeyStore(storage, new ManualClock()), usage: createUsageStore(storage) };
}

t.test('token helpers', async (t) => {
  const token = newSecretToken('pgk_');
  t.match(token, /^pgk_[0-9A-Za-z]{40}$/);
  t.not(newSecretToken('pgk_'), token);
  t.equal(maskSecret('pgk_abcdefghijWXYZ'), 'pgk_…WXYZ');
  t.ok(safeEqual('same', 'same'));
  t.notOk(safeEqual('same', 'different length'));
  t.equal(bearerToken('Bearer abc.def'), 'abc.def');
  t.equal(bearerToken('bearer abc'), 'abc');
  t.equal(bearerToken('Basic abc'), null);
  t.equal(bearerToken('Bearer '), null);
  t.equal(bearerToken(undefined), null);
});

onBothEngines('API keys are stored hashed, verified, and revoked at once', async (t, engine) => {
  const { storage, keys } = await setup(t, engine);
  const { record, key } = await keys.create(storage, { name: 'ops', origin: 'operator', tier: 'pro', scopes: ['read', 'write', 'admin'] });
  t.match(key, /^pgk_/);
  t.equal(record.masked, maskSecret(key));
  const stored = await selectRows<Record<string, unknown>>(storage, 'SELECT * FROM api_keys');
  t.equal(stored.length, 1);
  t.notMatch(JSON.stringify(stored), key, 'the secret itself is not stored');
  const verified = (await keys.verify(key))!;
  t.equal(verified.id, record.id);
  t.equal(verified.tier, 'pro');
  t.same(verified.scopes, ['read', 'write', 'admin']);
  t.equal(verified.reporterId, `key:${record.id}`);
  t.equal(await keys.verify(`${key}x`), null);
  t.ok(await keys.revoke(storage, record.id));
  t.equal(await keys.verify(key), null, 'revoked keys stop verifying');
  t.notOk(await keys.revoke(storage, record.id), 'revoking twice reports nothing to revoke');
});

onBothEngines('user keys follow their owner: tier, write scope, reporter identity', async (t, engine) => {
  const { storage, keys } = await setup(t, engine);
  const one = await keys.create(storage, { name: 'k1', origin: 'user', ownerUserId: 'usr_a', scopes: ['read', 'write'] });
  const two = await keys.create(storage, { name: 'k2', origin: 'user', ownerUserId: 'usr_a', scopes: ['read'] });
  t.same((await keys.verify(one.key))!.scopes, ['read'], 'a community owner has no write scope');
  t.equal((await keys.verify(one.key))!.reporterId, (await keys.verify(two.key))!.reporterId, 'all keys of a user are one reporter');
  await execute(storage, `UPDATE users SET tier = 'pro' WHERE id = 'usr_a'`);
  t.equal((await keys.verify(one.key))!.tier, 'pro', 'a tier change applies at once');
  t.same((await keys.verify(one.key))!.scopes, ['read', 'write']);
  t.equal(await keys.countActiveByOwner(storage, 'usr_a'), 2);
  t.notOk(await keys.revoke(storage, one.record.id, 'usr_other'), 'another user cannot revoke it');
  t.ok(await keys.revoke(storage, one.record.id, 'usr_a'));
  t.same((await keys.listByOwner('usr_a')).map((k) => k.id), [two.record.id]);
});

onBothEngines('usage counters never pass the limit and count per period', async (t, engine) => {
  const { storage, usage } = await setup(t, engine);
  for (let i = 0; i < 3; i++) t.ok(await usage.consume(storage, 'usr_a', 'api_calls', '2026-03', 3));
  t.notOk(await usage.consume(storage, 'usr_a', 'api_calls', '2026-03', 3), 'the fourth call is refused');
  t.equal(await usage.current('usr_a', 'api_calls', '2026-03'), 3, 'and not counted');
  t.ok(await usage.consume(storage, 'usr_a', 'api_calls', '2026-04', 3), 'a new month starts at zero');
  t.notOk(await usage.consume(storage, 'usr_a', 'reports', '2026-03', 0), 'a zero quota allows nothing');
  for (let i = 0; i < 5; i++) t.ok(await usage.consume(storage, 'usr_a', 'api_calls', '2026-05', -1), 'unlimited');
  t.equal(await usage.current('usr_a', 'api_calls', '2026-05'), 5);
});
