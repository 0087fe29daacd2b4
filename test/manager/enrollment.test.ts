import type { App } from '../../src/shared/base-app.js';
import { buildAuth, PASSWORD, register as registerAccount, registerAdmin, type Account } from '../auth/fixtures.js';
import { execute, selectRows, storageOn, type Engine } from '../engines.js';
import { authHeader } from '../helper.js';
import { borrowed, buildManager, buildManagerOn, countIn, ENROLL_TOKEN, onBothEngines, OPERATOR, register, seedUserIn } from './fixtures.js';

const INSTALLER = authHeader(ENROLL_TOKEN);
const DAY_MS = 24 * 60 * 60 * 1000;

/** The Auth Server and the Manager over one database and one clock, as in the process. */
async function platform(t: Parameters<typeof buildManager>[0], engine: Engine) {
  const storage = await storageOn(engine);
  // On PostgreSQL both apps share one pool: the Manager's fixture closes it, after its app.
  const auth = await buildAuth(t, storage ? { storage: borrowed(storage) } : {});
  const env = { MANAGER_ENROLL_TOKEN: ENROLL_TOKEN };
  const manager = await buildManager(t, { clock: auth.clock, env, ...(storage ? { storage } : { db: auth.db }) });
  return { auth: auth.app, manager: manager.app, storage: manager.storage, clock: auth.clock };
}

const registration = (app: App, headers: Record<string, string>, payload: Record<string, unknown> = {}) =>
  app.inject({ method: 'POST', url: '/api/agents/register', headers, payload: { hostname: 'web-01', os: 'linux', version: '1.0.0', ip: '10.0.0.5', ...payload } });
const heartbeat = (app: App, id: string, token: string) =>
  app.inject({ method: 'POST', url: `/api/agents/${id}/heartbeat`, headers: authHeader(token), payload: {} });

async function enrollToken(auth: App, owner: Account, payload: Record<string, unknown> = { name: 'servers' }) {
  const res = await auth.inject({ method: 'POST', url: '/api/auth/enroll-tokens', headers: owner.headers, payload });
  if (res.statusCode !== 201) throw new Error(`enroll token: ${res.statusCode} ${res.body}`);
  const data = res.json().data as { id: string; token: string };
  return { id: data.id, token: data.token, headers: authHeader(data.token) };
}

async function listed(auth: App, owner: Account) {
  return (await auth.inject({ url: '/api/auth/enroll-tokens', headers: owner.headers })).json().data as Array<{ id: string; lastUsedAt: string | null; agentsEnrolled: number }>;
}

onBothEngines('the install token registers new agents but cannot re-register one: 409 and the running agent keeps its token', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine, { env: { MANAGER_ENROLL_TOKEN: ENROLL_TOKEN } });
  const running = await register(app, { hostname: 'web-01', org_id: 'acme', version: '1.0.0' }, INSTALLER);
  t.equal(running.body.orgId, 'acme');
  const before = await selectRows(storage, 'SELECT * FROM agents WHERE id = ?', [running.id]);
  clock.advance(5000);

  const again = await registration(app, INSTALLER, { org_id: 'acme', version: '6.6.6', ip: '203.0.113.66', tags: ['evil'] });
  t.equal(again.statusCode, 409);
  t.same(again.json(), { ok: false, error: 'Agent already registered', code: 'CONFLICT' });
  t.same(await selectRows(storage, 'SELECT * FROM agents WHERE id = ?', [running.id]), before, 'nothing changed, not even the heartbeat');
  t.equal(await countIn(storage, 'agent_tags'), 0);
  t.equal((await heartbeat(app, running.id, running.token)).statusCode, 200, "the running agent's token still works");

  const noOrg = await register(app, { hostname: 'web-01' }, INSTALLER);
  t.equal(noOrg.body.orgId, 'default', 'the same hostname in another org is a new agent');
  t.equal((await registration(app, INSTALLER)).statusCode, 409, 'in the default org too');

  const operator = await registration(app, OPERATOR, { org_id: 'acme' });
  t.equal(operator.statusCode, 200, 'the operator still re-registers');
  t.equal((await heartbeat(app, running.id, running.token)).statusCode, 401, 'and that rotates the token');
});

onBothEngines("the install token cannot put an agent into a user's org; nothing is stored and the quota is untouched", async (t, engine) => {
  const { app, storage } = await buildManagerOn(t, engine, { env: { MANAGER_ENROLL_TOKEN: ENROLL_TOKEN } });
  await seedUserIn(storage, { id: 'usr_owner', tier: 'community' });
  const res = await registration(app, INSTALLER, { org_id: 'usr_owner' });
  t.equal(res.statusCode, 403);
  t.same(res.json(), { ok: false, error: "This organisation needs its owner's enrollment token", code: 'FORBIDDEN' });
  t.equal(await countIn(storage, 'agents'), 0, 'nothing stored');

  const owned = await register(app, { org_id: 'usr_owner' });
  t.equal(owned.body.orgId, 'usr_owner', 'the one community slot is still free for the operator');
  const takeover = await registration(app, INSTALLER, { org_id: 'usr_owner' });
  t.equal(takeover.statusCode, 403, 're-registering in a user org is refused as such, not 409');
  t.equal(takeover.json().error, "This organisation needs its owner's enrollment token");
  t.equal((await heartbeat(app, owned.id, owned.token)).statusCode, 200);

  await execute(storage, `UPDATE users SET suspended = 1 WHERE id = 'usr_owner'`);
  const suspended = await registration(app, INSTALLER, { org_id: 'usr_owner', hostname: 'other' });
  t.equal(suspended.statusCode, 403);
  t.equal(suspended.json().error, "This organisation needs its owner's enrollment token", 'a suspended user still owns the org');
  t.equal((await registration(app, INSTALLER, { org_id: 'usr_other', hostname: 'other' })).statusCode, 201, 'an id that is no user is an operator org');
});

onBothEngines("a user's enrollment token registers only into the owner's org, within the quota, and may re-register", async (t, engine) => {
  const { auth, manager, storage, clock } = await platform(t, engine);
  const owner = await registerAccount(auth);
  const enroll = await enrollToken(auth, owner);

  const first = await registration(manager, enroll.headers);
  t.equal(first.statusCode, 201, first.body);
  const agent = first.json().data;
  t.equal(agent.orgId, owner.id, "org_id omitted: the owner's org");
  t.match(agent.agentToken, /^pga_[0-9A-Za-z]{40}$/);
  t.same(
    (await listed(auth, owner)).map(({ id, lastUsedAt, agentsEnrolled }) => ({ id, lastUsedAt, agentsEnrolled })),
    [{ id: enroll.id, lastUsedAt: new Date(clock.now()).toISOString(), agentsEnrolled: 1 }],
  );

  for (const org of ['default', 'acme', 'usr_someone_else']) {
    const wrong = await registration(manager, enroll.headers, { hostname: 'web-02', org_id: org });
    t.equal(wrong.statusCode, 403, org);
    t.same(wrong.json(), { ok: false, error: 'Enrollment token is for another organisation', code: 'FORBIDDEN' });
  }
  const quota = await registration(manager, enroll.headers, { hostname: 'web-02', org_id: owner.id });
  t.equal(quota.statusCode, 403);
  t.equal(quota.json().error, 'Quota exceeded for guard_endpoints on the community tier');
  t.equal(await countIn(storage, 'agents'), 1, 'refusals store nothing');

  clock.advance(60_000);
  const again = await registration(manager, enroll.headers, { version: '1.1.0' });
  t.equal(again.statusCode, 200, 're-registering its own hostname');
  t.equal(again.json().data.id, agent.id);
  t.not(again.json().data.agentToken, agent.agentToken);
  t.equal((await heartbeat(manager, agent.id, agent.agentToken)).statusCode, 401, 'the old agent token is dead');
  t.equal((await heartbeat(manager, agent.id, again.json().data.agentToken)).statusCode, 200);
  const [summary] = await listed(auth, owner);
  t.equal(summary!.agentsEnrolled, 1, 'a re-registration is not a new agent');
  t.equal(summary!.lastUsedAt, new Date(clock.now()).toISOString());

  for (const [method, url] of [
    ['GET', '/api/agents'],
    ['GET', `/api/agents/${agent.id}`],
    ['POST', `/api/agents/${agent.id}/heartbeat`],
    ['GET', `/api/policy/agent/${agent.id}`],
    ['GET', '/api/overview'],
  ] as const) {
    const res = await manager.inject({ method, url, headers: enroll.headers, ...(method === 'POST' ? { payload: {} } : {}) });
    t.equal(res.statusCode, 403, `${method} ${url}`);
    t.equal(res.json().error, 'Enroll token may only register agents');
  }

  await execute(storage, `UPDATE users SET tier = 'solo' WHERE id = ?`, [owner.id]);
  t.equal((await registration(manager, enroll.headers, { hostname: 'web-02' })).statusCode, 201, 'a higher tier has room');
  t.equal((await listed(auth, owner))[0]!.agentsEnrolled, 2);
});

onBothEngines('a revoked, expired or unknown enrollment token is 401; agents it enrolled keep working', async (t, engine) => {
  const { auth, manager, clock } = await platform(t, engine);
  const owner = await registerAccount(auth);
  const enroll = await enrollToken(auth, owner);
  const shortLived = await enrollToken(auth, owner, { name: 'one day', expiresInDays: 1 });
  const agent = (await registration(manager, enroll.headers)).json().data;

  t.equal((await auth.inject({ method: 'DELETE', url: `/api/auth/enroll-tokens/${enroll.id}`, headers: owner.headers })).statusCode, 200);
  const revoked = await registration(manager, enroll.headers, { hostname: 'web-02' });
  t.equal(revoked.statusCode, 401);
  t.same(revoked.json(), { ok: false, error: 'Unauthorized', code: 'UNAUTHORIZED' });
  t.equal((await registration(manager, enroll.headers)).statusCode, 401, 'not even its own hostname');
  t.equal((await heartbeat(manager, agent.id, agent.agentToken)).statusCode, 200, 'the agent it enrolled keeps its token');

  clock.advance(DAY_MS + 1);
  t.equal((await registration(manager, shortLived.headers, { hostname: 'web-03' })).statusCode, 401, 'expired');

  const unknown = `pge_${'A'.repeat(40)}`;
  t.equal((await registration(manager, authHeader(unknown))).statusCode, 401, 'unknown');
});

onBothEngines("suspending or deleting the owner stops the owner's enrollment tokens at once", async (t, engine) => {
  const { auth, manager, storage } = await platform(t, engine);
  const admin = await registerAdmin(auth);
  const owner = await registerAccount(auth);
  const enroll = await enrollToken(auth, owner, { name: 'fleet', expiresInDays: 365 });
  t.equal((await registration(manager, enroll.headers)).statusCode, 201);

  const suspend = await auth.inject({ method: 'PATCH', url: `/api/admin/users/${owner.id}`, headers: admin.headers, payload: { suspended: true } });
  t.equal(suspend.statusCode, 200, suspend.body);
  const suspended = await registration(manager, enroll.headers);
  t.equal(suspended.statusCode, 401);
  t.equal(suspended.json().error, 'Unauthorized');
  t.equal((await auth.inject({ method: 'PATCH', url: `/api/admin/users/${owner.id}`, headers: admin.headers, payload: { suspended: false } })).statusCode, 200);
  t.equal((await registration(manager, enroll.headers)).statusCode, 200, 'lifting the suspension lifts the refusal');

  const login = await auth.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '198.51.100.7', payload: { email: owner.email, password: PASSWORD } });
  const session = authHeader(login.json().data.token);
  const deleted = await auth.inject({ method: 'DELETE', url: '/api/auth/delete-account', headers: session, payload: { password: PASSWORD } });
  t.equal(deleted.statusCode, 200, deleted.body);
  t.same(await selectRows(storage, 'SELECT count(*) AS n FROM enroll_tokens WHERE id = ?', [enroll.id]), [{ n: 0 }], 'the token row is gone');
  const after = await registration(manager, enroll.headers, { hostname: 'web-02' });
  t.equal(after.statusCode, 401);
  t.equal(await countIn(storage, 'agents'), 0, "the owner's agents went with the account");
});

onBothEngines('a configured install token that happens to start with pge_ is still the install token', async (t, engine) => {
  const installer = `pge_${'x'.repeat(40)}`;
  const { app } = await buildManagerOn(t, engine, { env: { MANAGER_ENROLL_TOKEN: installer } });
  const res = await registration(app, authHeader(installer), { org_id: 'acme' });
  t.equal(res.statusCode, 201, res.body);
  t.equal((await registration(app, authHeader(installer), { org_id: 'acme' })).statusCode, 409, 'with the install token rules');
});
