import { createApiKeyStore } from '../../src/shared/api-keys.js';
import { closeDatabase, openDatabase } from '../../src/shared/db/open.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { runCli } from '../../src/cli/index.js';
import { buildAuth, register, registerAdmin, type Account } from '../auth/fixtures.js';
import { buildThreatCloud, onBothEngines, postgresUrlOf } from './fixtures.js';
import { borrowed, execute, selectRows, storageOn, type Engine } from '../engines.js';
import type { Teardown } from '../helper.js';

/**
 * Verified API keys are kept in memory between requests; these tests prove that whatever
 * changes a key's verdict — the Auth routes in this process, the keys CLI or plain SQL on
 * another connection — is seen by the very next Threat Cloud request, after the key was
 * verified (and so kept) by the requests before it.
 */

/** A Threat Cloud and an Auth Server over one database, as the process runs them. */
async function platform(t: Teardown, engine: Engine, env: Record<string, string> = {}) {
  const tc = await buildThreatCloud(t, { env, storage: await storageOn(engine) });
  const auth = await buildAuth(t, tc.storage.engine === 'postgres' ? { storage: borrowed(tc.storage) } : { db: tc.db });
  const admin = await registerAdmin(auth.app);
  return { tc, auth, admin };
}

/** A registered account and a Threat Cloud key it made through the Auth routes. */
async function accountWithKey(auth: Awaited<ReturnType<typeof buildAuth>>, scopes: string[] = ['read']): Promise<Account & { key: string; keyId: string }> {
  const account = await register(auth.app);
  const res = await auth.app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload: { name: 'sensor', scopes } });
  if (res.statusCode !== 201) throw new Error(`key creation failed: ${res.body}`);
  const { key, id } = res.json().data;
  return { ...account, key, keyId: id };
}

type Tc = Awaited<ReturnType<typeof buildThreatCloud>>;
const lookup = (tc: Tc, key: string) => tc.inject({ url: '/api/iocs/198.51.100.7', key });

onBothEngines('a key revoked through the Auth routes is refused on the next request', async (t, engine) => {
  const { tc, auth } = await platform(t, engine);
  const owner = await accountWithKey(auth);
  t.equal((await lookup(tc, owner.key)).statusCode, 200);
  t.equal((await lookup(tc, owner.key)).statusCode, 200, 'verified again (from memory)');
  const revoked = await auth.app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${owner.keyId}`, headers: owner.headers });
  t.equal(revoked.statusCode, 200);
  const res = await lookup(tc, owner.key);
  t.equal(res.statusCode, 401);
  t.equal(res.json().error, 'Invalid API key');
});

onBothEngines('suspending the owner refuses the next request; lifting it allows the one after', async (t, engine) => {
  const { tc, auth, admin } = await platform(t, engine);
  const owner = await accountWithKey(auth);
  t.equal((await lookup(tc, owner.key)).statusCode, 200);
  const patch = (body: Record<string, unknown>) =>
    auth.app.inject({ method: 'PATCH', url: `/api/admin/users/${owner.id}`, headers: admin.headers, payload: body });
  t.equal((await patch({ suspended: true })).statusCode, 200);
  let res = await lookup(tc, owner.key);
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'Account suspended');
  t.equal((await patch({ suspended: false })).statusCode, 200);
  res = await lookup(tc, owner.key);
  t.equal(res.statusCode, 200);
});

onBothEngines('a tier change applies to the next request: its rate limit and its scopes', async (t, engine) => {
  const { tc, auth, admin } = await platform(t, engine, { RATE_LIMIT_SCALE: '1', TC_TIER_LIMITS: JSON.stringify({ community: 5, pro: 50 }) });
  const owner = await register(auth.app);
  const setTier = async (tier: string) => {
    const res = await auth.app.inject({ method: 'PATCH', url: `/api/admin/users/${owner.id}`, headers: admin.headers, payload: { tier } });
    t.equal(res.statusCode, 200, `tier ${tier}`);
  };
  await setTier('pro');
  const created = await auth.app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: owner.headers, payload: { name: 'sensor', scopes: ['read', 'write'] } });
  const { key } = created.json().data;
  const upload = () => tc.inject({ method: 'POST', url: '/api/threats', key, payload: { threats: [{ type: 'ip', value: '198.51.100.9', source: 's' }] } });
  let res = await lookup(tc, key);
  t.equal(res.headers['x-ratelimit-limit'], '50', 'pro limit');
  t.equal((await upload()).statusCode, 201, 'a pro key writes');

  await setTier('community');
  res = await lookup(tc, key);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-ratelimit-limit'], '5', 'the community limit at once');
  t.equal((await upload()).json().error, 'Missing scope: write', 'and no write with it');

  await setTier('pro');
  t.equal((await lookup(tc, key)).headers['x-ratelimit-limit'], '50', 'back up at once');
  t.equal((await upload()).statusCode, 201);
});

onBothEngines('the keys CLI on another connection: a revocation is refused on the next request', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  // What `npm run keys` does: the operator CLI on its own connection to the same database.
  const database = tc.storage.engine === 'postgres' ? { DATABASE_URL: await postgresUrlOf(tc.storage), DATABASE_TLS: 'disable' } : { DATABASE_PATH: tc.config.databasePath };
  const out: string[] = [];
  const keys = (...argv: string[]) =>
    runCli(['keys', ...argv], { out: (line) => out.push(line), err: () => {}, env: { LOG_LEVEL: 'silent', ...database }, readStdin: async () => '' });
  t.equal(await keys('create', '--tier', 'pro', '--scopes', 'read'), 0);
  const key = /key \(shown once\): (pgk_\S+)/.exec(out.join('\n'))![1]!;
  const id = /created (key_\S+)/.exec(out.join('\n'))![1]!;
  t.equal((await lookup(tc, key)).statusCode, 200);
  t.equal((await lookup(tc, key)).statusCode, 200);
  t.equal(await keys('revoke', id), 0);
  t.equal((await lookup(tc, key)).statusCode, 401);
});

/** The app's database on a connection of its own, as another process opens it; closed after the test. */
async function anotherConnection(t: Teardown, tc: Tc): Promise<Storage> {
  if (tc.storage.engine === 'postgres') {
    const other = await openPostgresStorage({ connectionString: await postgresUrlOf(tc.storage), poolSize: 1, statementTimeoutMs: 30_000, ssl: false });
    t.teardown(() => other.close());
    return other;
  }
  const file = openDatabase(tc.config.databasePath);
  t.teardown(() => closeDatabase(file));
  return sqliteStorageOf(file);
}

onBothEngines('plain SQL on another connection: scopes, owner tier, suspension and deletion are seen at once', async (t, engine) => {
  const { tc, auth } = await platform(t, engine, { RATE_LIMIT_SCALE: '1', TC_TIER_LIMITS: JSON.stringify({ community: 5, business: 70 }) });
  const owner = await accountWithKey(auth);
  const other = await anotherConnection(t, tc);
  t.equal((await lookup(tc, owner.key)).headers['x-ratelimit-limit'], '5');

  await execute(other, `UPDATE users SET tier = 'business' WHERE id = ?`, [owner.id]);
  t.equal((await lookup(tc, owner.key)).headers['x-ratelimit-limit'], '70', 'tier');

  await execute(other, `UPDATE api_keys SET scopes = 'write' WHERE id = ?`, [owner.keyId]);
  t.equal((await lookup(tc, owner.key)).json().error, 'Missing scope: read', 'scopes');
  await execute(other, `UPDATE api_keys SET scopes = 'read' WHERE id = ?`, [owner.keyId]);
  t.equal((await lookup(tc, owner.key)).statusCode, 200);

  await execute(other, `UPDATE users SET suspended = 1 WHERE id = ?`, [owner.id]);
  t.equal((await lookup(tc, owner.key)).statusCode, 403, 'suspension');
  await execute(other, `UPDATE users SET suspended = 0 WHERE id = ?`, [owner.id]);
  t.equal((await lookup(tc, owner.key)).statusCode, 200);

  await execute(other, `DELETE FROM users WHERE id = ?`, [owner.id]);
  t.equal((await lookup(tc, owner.key)).statusCode, 401, 'the owner and with them the key are gone');
});

onBothEngines('only writes that can change a verdict move the key generation', async (t, engine) => {
  const { tc, auth } = await platform(t, engine);
  const owner = await accountWithKey(auth);
  const generation = async () => (await selectRows<{ n: number }>(tc.storage, `SELECT n FROM api_key_generation`))[0]!.n;
  const before = await generation();
  await execute(tc.storage, `UPDATE users SET last_login_at = ?, name = 'Renamed' WHERE id = ?`, [new Date().toISOString(), owner.id]);
  await execute(tc.storage, `UPDATE users SET tier = tier, suspended = suspended WHERE id = ?`, [owner.id]);
  t.equal(await generation(), before, 'logins, renames and no-op updates keep what was verified');
  await execute(tc.storage, `UPDATE users SET tier = 'pro' WHERE id = ?`, [owner.id]);
  t.equal(await generation(), before + 1);
  await execute(tc.storage, `UPDATE api_keys SET name = 'renamed' WHERE id = ?`, [owner.keyId]);
  t.equal(await generation(), before + 2, 'any change of a key row');
});

onBothEngines('an unknown secret is never remembered: a key created with it works at once', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const secret = `pgk_${'k'.repeat(40)}`;
  t.equal((await lookup(tc, secret)).statusCode, 401);
  await createApiKeyStore(tc.storage, tc.clock).create(tc.storage, { name: 'late', origin: 'operator', tier: 'pro', scopes: ['read'], key: secret });
  t.equal((await lookup(tc, secret)).statusCode, 200);
});

onBothEngines('a verified key record cannot be changed by whoever holds it', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const keys = createApiKeyStore(tc.storage, tc.clock);
  const { key } = await keys.create(tc.storage, { name: 'reader', origin: 'operator', tier: 'pro', scopes: ['read'] });
  const record = (await keys.verify(key))!;
  t.throws(() => (record.scopes as string[]).push('admin'));
  t.throws(() => Object.assign(record, { tier: 'enterprise' }));
  t.same((await keys.verify(key))!.scopes, ['read']);
  t.equal((await keys.verify(key))!.tier, 'pro');
});
