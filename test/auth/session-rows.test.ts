import { createSessionStore } from '../../src/auth/stores/sessions.js';
import { createUserStore } from '../../src/auth/stores/users.js';
import { ManualClock } from '../../src/shared/clock.js';
import { DAY_MS } from '../../src/shared/time.js';
import { execute, onBothEngines } from '../engines.js';
import { seedUserIn } from '../seed.js';
import { bareStorageOn } from '../threat-cloud/fixtures.js';

// The session check reads the account and the session as unnamed values (column order in the
// statement), every other read as named rows: both must give the same records, field for field.

onBothEngines('the session check reads the account as every other read does', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const users = createUserStore(storage, new ManualClock());
  const full = await seedUserIn(storage, { id: 'usr_every_field', role: 'admin', tier: 'pro', suspended: true, createdAt: '2026-01-02T03:04:05.006Z' });
  await execute(storage, `UPDATE users SET updated_at = '2026-02-03T04:05:06.007Z', last_login_at = '2026-03-04T05:06:07.008Z', plan_expires_at = '2026-04-05T06:07:08.009Z' WHERE id = 'usr_every_field'`);
  await execute(storage, `INSERT INTO totp_secrets (user_id, secret_encrypted, enabled, created_at) VALUES ('usr_every_field', 'sealed', 1, '2026-01-02T03:04:05.006Z')`);
  const plain = await seedUserIn(storage, { id: 'usr_defaults' });

  const account = (await users.get(storage, full.id))!;
  t.same(account, await users.getByEmail(storage, full.email), 'the same record as the read by e-mail');
  t.same(
    account,
    {
      id: 'usr_every_field',
      email: full.email,
      name: 'Seeded User',
      passwordHash: 'not-a-password-hash',
      role: 'admin',
      tier: 'pro',
      suspended: true,
      planExpiresAt: '2026-04-05T06:07:08.009Z',
      createdAt: '2026-01-02T03:04:05.006Z',
      updatedAt: '2026-02-03T04:05:06.007Z',
      lastLoginAt: '2026-03-04T05:06:07.008Z',
      totpEnabled: true,
    },
    'each field from its own column',
  );
  const defaults = (await users.get(storage, plain.id))!;
  t.same(defaults, await users.getByEmail(storage, plain.email));
  t.match(defaults, { suspended: false, totpEnabled: false, planExpiresAt: null, lastLoginAt: null });
  t.equal(await users.get(storage, 'usr_nobody'), null);
});

onBothEngines('the session check reads the session as every other read does', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock();
  const sessions = createSessionStore(storage, clock, 0);
  const { id: userId } = await seedUserIn(storage, { id: 'usr_sessions' });
  const created = await sessions.create(storage, { userId, ttlMs: DAY_MS, ip: '203.0.113.9', userAgent: 'agent/1.0' });
  const bare = await sessions.create(storage, { userId, ttlMs: DAY_MS, ip: null, userAgent: null });

  clock.advance(1_000);
  const used = (await sessions.use(created.id))!;
  t.same(used, created, 'the record as created (last use too recent to be written again)');
  t.same(used, (await sessions.listAll(userId)).find((session) => session.id === created.id), 'the same record as the export reads');
  t.same(await sessions.use(bare.id), bare, 'no address and no user agent stay null');

  clock.advance(60_000);
  const touched = (await sessions.use(created.id))!;
  t.equal(touched.lastUsedAt, new Date(clock.now()).toISOString(), 'a use a minute later is stamped');
  t.same(touched, (await sessions.listAll(userId)).find((session) => session.id === created.id), 'and stored');
  t.equal(await sessions.use('ses_nobody'), null);
});
