import { toIso } from '../../src/shared/clock.js';
import { defineStatement, type Storage } from '../../src/shared/db/storage.js';
import { NO_ORG_DATA, type OrgData } from '../../src/auth/ports.js';
import { authHeader } from '../helper.js';
import { execute, selectRows } from '../engines.js';
import {
  buildAuthOn,
  countIn,
  countOf,
  enableTotp,
  login,
  onBothEngines,
  PASSWORD,
  register,
  registerAdmin,
  seedAgentIn,
  settled,
  type Account,
  type AuthFixture,
} from './fixtures.js';

/** Gives an account everything it can have: sessions, TOTP, keys, usage, reset token, subscription, org rows. */
async function fullyUsedAccount(fixture: AuthFixture): Promise<{ account: Account; secrets: string[] }> {
  const { app, storage, clock } = fixture;
  const account = await register(app);
  await execute(storage, `UPDATE users SET tier = 'pro' WHERE id = ?`, [account.id]);
  const { secret, backupCodes } = await enableTotp(fixture, account);
  const key = (await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload: { name: 'siem' } })).json().data.key as string;
  const enrollToken = (await app.inject({ method: 'POST', url: '/api/auth/enroll-tokens', headers: account.headers, payload: { name: 'fleet' } })).json().data.token as string;
  await app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: account.email } });
  await settled(app);
  const one = async <Row>(sql: string): Promise<Row> => (await selectRows<Row>(storage, sql, [account.id]))[0]!;
  const [{ body: resetBody }] = (await selectRows<{ body: string }>(storage, `SELECT body FROM outbox WHERE recipient = ? AND body LIKE '%reset-password?token=%'`, [account.email])) as [{ body: string }];
  const resetToken = /token=([A-Za-z0-9_-]+)/.exec(resetBody)![1]!;
  await execute(storage, `INSERT INTO usage_counters (user_id, resource, period, count) VALUES (?, 'api_calls', '2026-03', 42)`, [account.id]);
  await execute(storage, `INSERT INTO subscriptions (user_id, provider_subscription_id, variant_id, status, updated_at) VALUES (?, 'sub_1', 'v1', 'active', ?)`, [account.id, toIso(clock.now())]);
  await seedOrg(storage, account.id, toIso(clock.now()));
  const passwordHash = (await one<{ password_hash: string }>(`SELECT password_hash FROM users WHERE id = ?`)).password_hash;
  const totpEncrypted = (await one<{ secret_encrypted: string }>(`SELECT secret_encrypted FROM totp_secrets WHERE user_id = ?`)).secret_encrypted;
  const keyHash = (await one<{ key_hash: string }>(`SELECT key_hash FROM api_keys WHERE owner_user_id = ?`)).key_hash;
  const enrollHash = (await one<{ token_hash: string }>(`SELECT token_hash FROM enroll_tokens WHERE user_id = ?`)).token_hash;
  const codeHashes = (await selectRows<{ code_hash: string }>(storage, `SELECT code_hash FROM totp_backup_codes WHERE user_id = ?`, [account.id])).map((r) => r.code_hash);
  return { account, secrets: [passwordHash, totpEncrypted, secret, keyHash, key, enrollToken, enrollHash, resetToken, account.token, ...backupCodes, ...codeHashes, `agent-token-hash-${account.id}`] };
}

async function seedOrg(storage: Storage, orgId: string, now: string): Promise<void> {
  await seedAgentIn(storage, { id: `agent-${orgId}`, orgId, hostname: 'web-1', tokenHash: `agent-token-hash-${orgId}`, registeredAt: now });
  await execute(
    storage,
    `INSERT INTO threat_events (id, agent_id, org_id, hostname, type, severity, details, timestamp, timestamp_ms, received_at)
     VALUES (?, ?, ?, 'web-1', 'bruteforce', 'high', '{"attempts":5}', ?, 0, ?)`,
    [`evt_${orgId}`, `agent-${orgId}`, orgId, now, now],
  );
  // Policy versions are unique across all orgs: each seeded org takes the next one.
  await execute(
    storage,
    `INSERT INTO policies (id, org_id, agent_id, version, name, rules, created_at)
     VALUES (?, ?, NULL, (SELECT coalesce(max(version), 0) + 1 FROM policies), 'baseline', '[]', ?)`,
    [`pol_${orgId}`, orgId, now],
  );
}

onBothEngines('export holds everything about the user and no secret', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app } = fixture;
  const { account, secrets } = await fullyUsedAccount(fixture);
  const res = await app.inject({ url: '/api/auth/export-data', headers: account.headers });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-disposition'], 'attachment; filename="panguard-data-export.json"');
  const data = res.json().data;
  for (const field of ['exportedAt', 'user', 'sessions', 'subscription', 'usage', 'apiKeys', 'enrollTokens', 'auditLog', 'agents', 'threatEvents', 'policies']) {
    t.ok(field in data, `has ${field}`);
  }
  t.equal(data.user.email, account.email);
  t.equal(data.user.totpEnabled, true);
  t.ok(data.sessions.length >= 1);
  t.ok(data.sessions[0].ip);
  t.equal(data.subscription.status, 'active');
  t.ok(data.usage.some((u: { resource: string; current: number }) => u.resource === 'api_calls' && u.current === 42));
  t.equal(data.apiKeys.length, 1);
  t.equal(data.apiKeys[0].prefix.length, 8);
  t.equal(data.enrollTokens.length, 1);
  t.match(data.enrollTokens[0], { name: 'fleet', orgId: account.id, revokedAt: null, agentsEnrolled: 0 });
  t.match(data.enrollTokens[0].prefix, /^pge_[0-9A-Za-z]{4}$/);
  t.ok(data.auditLog.some((e: { action: string }) => e.action === 'enroll_token.create'));
  t.ok(data.auditLog.some((e: { action: string }) => e.action === 'register'));
  t.equal(data.agents.length, 1);
  t.equal(data.agents[0].hostname, 'web-1');
  t.equal(data.threatEvents.length, 1);
  t.same(data.threatEvents[0].details, { attempts: 5 });
  t.equal(data.policies.length, 1);
  for (const secret of secrets) t.notOk(res.body.includes(secret), `export does not contain ${secret.slice(0, 12)}…`);
  t.notMatch(res.body, /password_?hash|passwordHash|secret|key_hash|keyHash/i);
  t.equal((await app.inject({ url: '/api/auth/export-data' })).statusCode, 401);
});

onBothEngines('deleting a user with sessions, TOTP, keys, usage, reset tokens, mail and org data succeeds', async (t, engine) => {
  const fixture = await buildAuthOn(t, engine);
  const { app, storage } = fixture;
  await registerAdmin(app);
  const { account } = await fullyUsedAccount(fixture);
  const bystander = await register(app);
  await seedOrg(storage, bystander.id, toIso(fixture.clock.now()));
  const key = (await app.inject({ method: 'GET', url: '/api/auth/api-keys', headers: account.headers })).json().data[0];
  t.ok(key);

  const wrong = await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: account.headers, payload: { password: 'wrong password' } });
  t.equal(wrong.statusCode, 401);
  t.equal(wrong.json().error, 'Invalid password');
  const missing = await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: account.headers, payload: {} });
  t.equal(missing.statusCode, 400);

  const res = await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: account.headers, payload: { password: PASSWORD } });
  t.equal(res.statusCode, 200);
  t.same(res.json().data, { message: 'Account and all associated data have been permanently deleted' });
  const left = (table: string, column: string) => countOf(storage, `SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`, [account.id]);
  for (const [table, column] of [
    ['users', 'id'],
    ['sessions', 'user_id'],
    ['totp_secrets', 'user_id'],
    ['totp_backup_codes', 'user_id'],
    ['password_reset_tokens', 'user_id'],
    ['usage_counters', 'user_id'],
    ['subscriptions', 'user_id'],
    ['api_keys', 'owner_user_id'],
    ['enroll_tokens', 'user_id'],
    ['outbox', 'user_id'],
    ['agents', 'org_id'],
    ['threat_events', 'org_id'],
    ['policies', 'org_id'],
    ['audit_log', 'actor_id'],
    ['audit_log', 'target_id'],
  ] as const) {
    t.equal(await left(table, column), 0, `${table}.${column} cleared`);
  }
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM outbox WHERE recipient = ?`, [account.email]), 0);
  t.ok((await countIn(storage, 'audit_log')) > 0, 'audit rows kept without personal details');
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM audit_log WHERE action = 'account.delete'`), 1);
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM agents WHERE org_id = ?`, [bystander.id]), 1, "others' rows kept");
  t.equal((await app.inject({ url: '/api/auth/me', headers: account.headers })).statusCode, 401, 'token dead');
  t.equal((await login(app, account.email)).statusCode, 401);
});

onBothEngines('the only admin cannot delete their account', async (t, engine) => {
  const { app, storage } = await buildAuthOn(t, engine);
  const admin = await registerAdmin(app);
  const res = await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: admin.headers, payload: { password: PASSWORD } });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'Cannot delete the only admin account');
  t.equal(await countIn(storage, 'users'), 1);
  const second = await register(app);
  await execute(storage, `UPDATE users SET role = 'admin' WHERE id = ?`, [second.id]);
  const ok = await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: admin.headers, payload: { password: PASSWORD } });
  t.equal(ok.statusCode, 200, 'with another admin it works');
});

onBothEngines('delete-account password guessing is limited per user', async (t, engine) => {
  const { app } = await buildAuthOn(t, engine, { env: { RATE_LIMIT_SCALE: '1', AUTH_RATE_LIMIT: '1000' } });
  const account = await register(app);
  for (let i = 0; i < 5; i++) {
    t.equal((await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: account.headers, payload: { password: 'wrong password' } })).statusCode, 401);
  }
  t.equal((await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: account.headers, payload: { password: PASSWORD } })).statusCode, 429);
  t.equal((await app.inject({ url: '/api/auth/me', headers: authHeader(account.token) })).statusCode, 200, 'account still there');
});

const DELETE_ORG_AGENTS = defineStatement<[orgId: string]>(`DELETE FROM agents WHERE org_id = ?`);

onBothEngines('an account deletion that fails part-way leaves everything as it was', async (t, engine) => {
  // The org's rows go first, through the deletion's own transaction; then the step fails.
  const orgData: OrgData = {
    ...NO_ORG_DATA,
    async deleteOf(tx, orgId) {
      await tx.run(DELETE_ORG_AGENTS, [orgId]);
      throw new Error('the Manager refused');
    },
  };
  const fixture = await buildAuthOn(t, engine, { app: { orgData } });
  const { app, storage, clock } = fixture;
  const account = await register(app);
  await seedOrg(storage, account.id, toIso(clock.now()));

  const res = await app.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: account.headers, payload: { password: PASSWORD } });
  t.equal(res.statusCode, 500);
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM agents WHERE org_id = ?`, [account.id]), 1, "the org's rows deleted before the failure are back");
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM users WHERE id = ?`, [account.id]), 1, 'the account is still there');
  t.equal(await countOf(storage, `SELECT count(*) AS n FROM audit_log WHERE action = 'account.delete'`), 0, 'no deletion recorded');
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: account.headers })).statusCode, 200, 'its session still works');
});
