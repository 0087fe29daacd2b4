/**
 * Write ordering under genuinely concurrent requests. Today one SQLite connection with one
 * writer puts every read-then-write sequence in a row for free; a storage engine with
 * concurrent transactions does not. Each test below fires its requests at once over real
 * sockets (every app listens on 127.0.0.1, port 0) and checks the rule that must survive any
 * interleaving: one agent per (org, hostname), one first admin, one policy per version, a
 * quota never overshot, every reporter of an IoC counted, a feed cursor that misses nothing,
 * at least one admin left. Nothing here waits for time to pass: every check awaits the answers.
 */
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { App } from '../../src/shared/base-app.js';
import { authHeader } from '../helper.js';
import { buildAuth, login, PASSWORD, register as registerAccount, registerAdmin, type Account } from '../auth/fixtures.js';
import { buildManager, ENROLL_TOKEN, OPERATOR, register as registerAgent } from '../manager/fixtures.js';
import { buildThreatCloud, storeKey, threat } from '../threat-cloud/fixtures.js';
import { ENGINES, selectRows, storageOn, type Engine } from '../engines.js';
import type { Storage } from '../../src/shared/db/storage.js';

/** Rounds of each race: one round can get lucky, several in a row rarely do. */
const ROUNDS = 4;

/** An answer as a client sees it: status and the parsed JSON envelope. */
interface Answer {
  status: number;
  // The envelopes' payloads differ per route; each test reads the fields its contract names.
  body: { ok: boolean; error?: string; data?: any; pagination?: { total: number } };
}

/** Starts the app on an ephemeral loopback port; its base URL. */
async function listen(app: App): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

/** One request over a real socket (fetch keeps one connection per request in flight). */
async function call(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

/** `n` requests started in the same turn of the event loop, so the server holds them all at once. */
const together = <T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: n }, (_, i) => make(i)));

const sorted = (numbers: number[]) => [...numbers].sort((a, b) => a - b);
/** The statuses of a race, in ascending order: which request got which one is up to the race. */
const statuses = (answers: Answer[]) => sorted(answers.map((a) => a.status));
/** The error envelope's contract fields (a route may add machine-readable ones next to them). */
const errorOf = (answer: Answer) => ({ ok: answer.body.ok, error: answer.body.error });
const times = (n: number, value: number) => Array.from({ length: n }, () => value);
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/**
 * Each race runs on SQLite and on PostgreSQL: on SQLite one writer orders everything, on
 * PostgreSQL transactions really run at once and only the named locks keep the rules.
 */
function racesOnBothEngines(name: string, race: (t: Test, engine: Engine) => Promise<void>): void {
  for (const engine of ENGINES) t.test(`${name} (${engine})`, (t) => race(t, engine));
}

/** Operator keys, each its own reporter, stored through the port the app runs on. */
async function operatorKeys(storage: Storage, clock: Parameters<typeof storeKey>[1], count: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < count; i++) keys.push((await storeKey(storage, clock, { name: `operator key ${i}`, origin: 'operator', tier: 'enterprise', scopes: ['read', 'write'] })).key);
  return keys;
}

racesOnBothEngines('Manager: one hostname registered at once in one org is one agent, named by every answer', async (t, engine) => {
  const { app, storage } = await buildManager(t, { env: { MANAGER_ENROLL_TOKEN: ENROLL_TOKEN }, storage: await storageOn(engine) });
  const base = await listen(app);
  const body = (hostname: string, orgId: string) => ({ hostname, os: 'linux', version: '1.2.3', ip: '10.0.0.5', org_id: orgId });
  const rowsOf = (orgId: string, hostname: string) => selectRows<{ id: string }>(storage, 'SELECT id FROM agents WHERE org_id = ? AND hostname = ?', [orgId, hostname]);

  for (let round = 0; round < ROUNDS; round++) {
    // Two hostnames interleaved, plus one already registered before the race: 20 at once.
    const orgId = `org-${round}`;
    const existing = await registerAgent(app, body(`known-${round}`, orgId));
    const hostnames = [`race-a-${round}`, `race-b-${round}`, `known-${round}`];
    const sent = range(0, 21).map((i) => hostnames[i % 3]!);
    const answers = await together(sent.length, (i) => call(base, 'POST', '/api/agents/register', { headers: OPERATOR, body: body(sent[i]!, orgId) }));

    for (const hostname of hostnames) {
      const mine = answers.filter((_, i) => sent[i] === hostname);
      const fresh = hostname.startsWith('race');
      // A new hostname: the first registration creates it (201), the rest re-register it (200).
      t.same(statuses(mine), fresh ? sorted([201, ...times(6, 200)]) : times(7, 200), `round ${round} ${hostname}: statuses`);
      const ids = new Set(mine.map((a) => a.body.data.id as string));
      t.equal(ids.size, 1, `round ${round} ${hostname}: every answer names one agent`);
      const rows = await rowsOf(orgId, hostname);
      t.equal(rows.length, 1, `round ${round} ${hostname}: one row for (org, hostname)`);
      t.equal(rows[0]?.id, [...ids][0], 'the row is the agent the answers named');
      if (!fresh) t.equal(rows[0]?.id, existing.id, 'an existing agent keeps its id');
      // Each re-registration replaces the token: exactly one of the tokens handed out still works.
      const beats = await together(mine.length, (i) =>
        call(base, 'POST', `/api/agents/${rows[0]!.id}/heartbeat`, { headers: authHeader(mine[i]!.body.data.agentToken as string), body: {} }),
      );
      t.same(statuses(beats), [200, ...times(6, 401)], `round ${round} ${hostname}: only the last token handed out works`);
    }

    // The installers' token may only create: one 201, every other racer 409, nothing replaced.
    const installer = await together(12, () => call(base, 'POST', '/api/agents/register', { headers: authHeader(ENROLL_TOKEN), body: body(`enrolled-${round}`, orgId) }));
    t.same(statuses(installer), [201, ...times(11, 409)], `round ${round}: enroll token creates once`);
    for (const refused of installer.filter((a) => a.status === 409)) t.same(errorOf(refused), { ok: false, error: 'Agent already registered' });
    const created = installer.find((a) => a.status === 201)!;
    t.same(await rowsOf(orgId, `enrolled-${round}`), [{ id: created.body.data.id }], 'one row, the created one');
    const beat = await call(base, 'POST', `/api/agents/${created.body.data.id}/heartbeat`, { headers: authHeader(created.body.data.agentToken as string), body: {} });
    t.equal(beat.status, 200, 'the created agent keeps its token: a refused racer replaced nothing');
  }
});

racesOnBothEngines('Auth: registrations racing on an empty server make exactly one admin', async (t, engine) => {
  for (let round = 0; round < ROUNDS; round++) {
    await t.test(`round ${round}`, async (t) => {
      const { app, storage } = await buildAuth(t, { storage: await storageOn(engine) });
      const base = await listen(app);
      // From loopback (the sockets are on 127.0.0.1), so every racer could be the first.
      const answers = await together(16, (i) =>
        call(base, 'POST', '/api/auth/register', { body: { email: `racer-${round}-${i}@example.com`, name: 'Racer', password: PASSWORD } }),
      );
      t.same(statuses(answers), times(16, 201), 'every new account is created');
      const roles = (await selectRows<{ role: string; n: number }>(storage, 'SELECT role, count(*) AS n FROM users GROUP BY role ORDER BY role')).map((r) => [r.role, r.n]);
      t.same(roles, [['admin', 1], ['user', 15]], 'one admin, the rest users');
      // What each racer is told about itself agrees with the table.
      const me = await together(16, (i) => call(base, 'GET', '/api/auth/me', { headers: authHeader(answers[i]!.body.data.token as string) }));
      t.equal(me.filter((a) => a.body.data.role === 'admin').length, 1, 'exactly one racer is admin');
    });
  }
});

racesOnBothEngines('Manager: policies and overrides created at once get distinct, consecutive versions', async (t, engine) => {
  const { app, storage } = await buildManager(t, { storage: await storageOn(engine) });
  const base = await listen(app);
  const agents = await Promise.all(range(0, 5).map((i) => registerAgent(app, { hostname: `policy-host-${i}` })));
  const rules = [{ type: 'custom', config: { condition: 'process.name == "nc"', action: 'alert' } }];
  const versionOf = (answer: Answer) => Number(/^v(\d+)$/.exec((answer.body.data.version ?? answer.body.data.policyVersion) as string)![1]);
  let made = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // Global, per-org and per-agent override: one counter shared by every scope.
    const answers = await together(20, (i) =>
      i < agents.length
        ? call(base, 'PUT', `/api/policy/agent/${agents[i]!.id}`, { headers: OPERATOR, body: { rules } })
        : call(base, 'POST', '/api/policy', { headers: OPERATOR, body: { name: `p-${round}-${i}`, rules, ...(i % 3 === 0 ? {} : { org_id: `org-${i % 3}` }) } }),
    );
    t.same(statuses(answers), sorted([...times(15, 201), ...times(5, 200)]), `round ${round}: all stored`);
    const versions = sorted(answers.map(versionOf));
    t.same(versions, range(made + 1, 20), `round ${round}: v${made + 1}..v${made + 20}, none lost or repeated`);
    made += 20;
  }
  const stored = (await selectRows<{ version: number }>(storage, 'SELECT version FROM policies ORDER BY version')).map((r) => r.version);
  t.same(stored, range(1, made), 'the table holds every version once');
  const history = await call(base, 'GET', '/api/policy/history?limit=1', { headers: OPERATOR });
  t.equal(history.body.pagination?.total, made, 'the history counts every policy');
});

racesOnBothEngines('Auth: key creations racing past the api_keys quota stop exactly at the limit', async (t, engine) => {
  const { app, storage } = await buildAuth(t, { storage: await storageOn(engine) });
  const base = await listen(app);
  const admin = await registerAdmin(app);
  const liveKeys = async (userId: string) => (await selectRows<{ n: number }>(storage, 'SELECT count(*) AS n FROM api_keys WHERE owner_user_id = ? AND revoked_at IS NULL', [userId]))[0]!.n;
  // Limits from the contract's quota table (auth.md).
  for (const [tier, limit] of [['solo', 2], ['pro', 5], ['business', 20]] as const) {
    const user = await registerAccount(app);
    const patch = await app.inject({ method: 'PATCH', url: `/api/admin/users/${user.id}`, headers: admin.headers, payload: { tier } });
    t.equal(patch.statusCode, 200);
    const race = async (requested: number, expectCreated: number, label: string) => {
      const answers = await together(requested, (i) => call(base, 'POST', '/api/auth/api-keys', { headers: user.headers, body: { name: `${label}-${i}` } }));
      t.same(statuses(answers), [...times(expectCreated, 201), ...times(requested - expectCreated, 403)], `${tier} ${label}: exactly the allowance is created`);
      for (const refused of answers.filter((a) => a.status === 403)) t.same(errorOf(refused), { ok: false, error: `Quota exceeded for api_keys on the ${tier} tier` });
      return answers.filter((a) => a.status === 201).map((a) => a.body.data.id as string);
    };
    const first = await race(3 * limit, limit, 'fill');
    t.equal(new Set(first).size, limit, 'distinct keys');
    t.equal(await liveKeys(user.id), limit, `${tier}: ${limit} live keys stored`);
    // Two revoked free two places, which a second race fills exactly.
    for (const id of first.slice(0, 2)) t.equal((await call(base, 'DELETE', `/api/auth/api-keys/${id}`, { headers: user.headers })).status, 200);
    await race(6, 2, 'refill');
    t.equal(await liveKeys(user.id), limit, `${tier}: still ${limit} live keys`);
  }
});

racesOnBothEngines('Threat Cloud: the first report of an IoC from many reporters at once counts every one', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const base = await listen(tc.app);
  const REPORTERS = 12;
  // Operator keys: each one is its own reporter.
  const keys = await operatorKeys(tc.storage, tc.clock, REPORTERS);
  const stored = (value: string) =>
    selectRows(
      tc.storage,
      'SELECT id, sightings, reporters, (SELECT count(*) FROM ioc_reporters r WHERE r.ioc_id = i.id) AS "reporterRows", (SELECT count(*) FROM sightings s WHERE s.ioc_id = i.id) AS "sightingRows" FROM iocs i WHERE value = ?',
      [value],
    );

  for (let round = 0; round < ROUNDS; round++) {
    // One value alone, then three values that every reporter sends in one batch, in its own order.
    const single = `198.51.100.${10 + round}`;
    const batch = [`203.0.113.${10 + round}`, `race-${round}.example.com`, `192.0.2.${10 + round}`];
    const asThreat = (value: string, i: number) => (value.endsWith('.com') ? { type: 'domain', value, source: `sensor-${i}` } : threat(value, { source: `sensor-${i}` }));
    const answers = await together(2 * REPORTERS, (i) => {
      const reporter = i % REPORTERS;
      const values = i < REPORTERS ? [single] : [...batch.slice(reporter % 3), ...batch.slice(0, reporter % 3)];
      return call(base, 'POST', '/api/threats', { headers: authHeader(keys[reporter]!), body: { threats: values.map((v) => asThreat(v, reporter)) } });
    });
    t.same(statuses(answers), times(2 * REPORTERS, 201), `round ${round}: every upload stored`);
    const singles = answers.slice(0, REPORTERS);
    t.equal(singles.filter((a) => a.body.data.new === 1).length, 1, 'one upload creates the IoC, the others update it');
    t.equal(new Set(singles.map((a) => a.body.data.iocIds[0] as string)).size, 1, 'every answer names the same IoC');
    const created = answers.slice(REPORTERS).reduce((sum, a) => sum + (a.body.data.new as number), 0);
    t.equal(created, batch.length, 'each batched IoC is created once');

    for (const value of [single, ...batch]) {
      const expected = { sightings: REPORTERS, reporters: REPORTERS, reporterRows: REPORTERS, sightingRows: REPORTERS };
      t.match(await stored(value), [expected], `round ${round} ${value}: one row, every report and reporter counted`);
      t.equal((await stored(value)).length, 1);
      const lookup = await call(base, 'GET', `/api/iocs/${encodeURIComponent(value)}`, { headers: authHeader(keys[0]!) });
      t.equal(lookup.body.data.sightings, REPORTERS);
      t.equal(lookup.body.data.reputationFactors.reporters, REPORTERS, 'the reputation counts every reporter');
    }
  }
});

racesOnBothEngines('Threat Cloud: a feed cursor walked during concurrent uploads sees every change once, in order', async (t, engine) => {
  const tc = await buildThreatCloud(t, { storage: await storageOn(engine) });
  const base = await listen(tc.app);
  const keys = await operatorKeys(tc.storage, tc.clock, 4);
  const WRITERS = 8;
  const UPLOADS = 20;
  const HOT = range(1, 5).map((i) => `198.51.100.${i}`);

  // Every upload creates three IoCs no one touches again (a change missed there is missed for
  // good) and updates one of a few hot IoCs (which keep moving along the change sequence).
  let writing = true;
  const writers = Promise.all(
    range(0, WRITERS).map(async (w) => {
      for (let u = 0; u < UPLOADS; u++) {
        const fresh = range(0, 3).map((k) => ({ type: 'domain', value: `w${w}-u${u}-${k}.example.com`, source: `writer-${w}` }));
        const res = await call(base, 'POST', '/api/threats', { headers: authHeader(keys[w % keys.length]!), body: { threats: [...fresh, threat(HOT[(w + u) % HOT.length]!, { source: `writer-${w}` })] } });
        if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }),
  ).finally(() => {
    writing = false;
  });

  type FeedPage = { count: number; iocs: { value: string; sightings: number }[]; removed: unknown[]; nextCursor: string };
  const page = async (cursor: string | null, limit: number) => {
    const res = await call(base, 'GET', `/api/feeds/iocs?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: authHeader(keys[0]!) });
    if (res.status !== 200) throw new Error(`feed failed: ${res.status}`);
    return res.body.data as FeedPage;
  };

  /**
   * Walks from the start, `limit` per page, until a page asked for after the writers stopped
   * is empty; what it saw of each IoC (its sightings, page after page).
   */
  async function walk(limit: number) {
    const seen = new Map<string, number[]>();
    let pagesWhileWriting = 0;
    let removed = 0;
    for (let cursor: string | null = null; ; ) {
      const writersDone = !writing;
      const current = await page(cursor, limit);
      if (!writersDone) pagesWhileWriting += 1;
      removed += current.removed.length;
      for (const ioc of current.iocs) seen.set(ioc.value, [...(seen.get(ioc.value) ?? []), ioc.sightings]);
      cursor = current.nextCursor;
      if (writersDone && current.count === 0) return { limit, seen, pagesWhileWriting, removed };
    }
  }
  // Four readers on their own cursors: small pages trail the writers through settled changes;
  // big ones catch up and keep reading at the head of the sequence, where positions are taken
  // by uploads still in flight.
  const [, ...walks] = await Promise.all([writers, walk(3), walk(40), walk(1000), walk(1000)]);

  const final = new Map((await selectRows<{ value: string; sightings: number }>(tc.storage, 'SELECT value, sightings FROM iocs')).map((r) => [r.value, r.sightings]));
  t.equal(final.size, WRITERS * UPLOADS * 3 + HOT.length, 'every upload stored its IoCs');
  for (const { limit, seen, pagesWhileWriting, removed } of walks) {
    t.comment(`limit ${limit}: ${pagesWhileWriting} pages read while uploads ran`);
    t.equal(removed, 0, `limit ${limit}: nothing is listed as removed`);
    t.same([...seen.keys()].sort(), [...final.keys()].sort(), `limit ${limit}: the walk saw every IoC`);
    const outOfOrder = [...seen].filter(([, states]) => states.some((s, i) => i > 0 && s <= states[i - 1]!));
    t.same(outOfOrder, [], `limit ${limit}: an IoC seen again is seen in a later state, never a state twice`);
    const stale = [...seen].filter(([value, states]) => states[states.length - 1] !== final.get(value));
    t.same(stale, [], `limit ${limit}: the last state seen of each IoC is its final state`);
  }

  // With the writers stopped, a walk from the start lists each IoC exactly once, as stored.
  const again = new Map<string, number>();
  let repeats = 0;
  for (let cursor: string | null = null; ; ) {
    const current = await page(cursor, 50);
    if (current.count === 0) break;
    for (const ioc of current.iocs) {
      if (again.has(ioc.value)) repeats += 1;
      again.set(ioc.value, ioc.sightings);
    }
    cursor = current.nextCursor;
  }
  t.equal(repeats, 0, 'a quiet walk repeats nothing');
  t.same(again, final, 'a quiet walk yields every IoC in its final state');
});

racesOnBothEngines('Auth: admins removing each other at once always leave one admin', async (t, engine) => {
  const ADMINS = 4;
  /** A fresh server with `ADMINS` admins, each signed in on its own session. */
  async function admins(t: Parameters<typeof buildAuth>[0]) {
    const fixture = await buildAuth(t, { storage: await storageOn(engine) });
    const first = await registerAdmin(fixture.app);
    const all: Account[] = [first];
    for (let i = 1; i < ADMINS; i++) {
      const account = await registerAccount(fixture.app);
      const promote = await fixture.app.inject({ method: 'PATCH', url: `/api/admin/users/${account.id}`, headers: first.headers, payload: { role: 'admin' } });
      if (promote.statusCode !== 200) throw new Error(promote.body);
      // A role change ends the account's sessions: sign in again.
      const token = (await login(fixture.app, account.email)).json().data.token as string;
      all.push({ ...account, token, headers: authHeader(token) });
    }
    const activeAdmins = async () => (await selectRows<{ n: number }>(fixture.storage, `SELECT count(*) AS n FROM users WHERE role = 'admin' AND suspended = 0`))[0]!.n;
    return { ...fixture, all, activeAdmins, base: await listen(fixture.app) };
  }

  for (let round = 0; round < ROUNDS; round++) {
    await t.test(`round ${round}: every admin deletes their own account`, async (t) => {
      const { all, activeAdmins, base } = await admins(t);
      const answers = await together(ADMINS, (i) => call(base, 'DELETE', '/api/auth/delete-account', { headers: all[i]!.headers, body: { password: PASSWORD } }));
      t.same(statuses(answers), sorted([...times(ADMINS - 1, 200), 403]), 'all but one deleted');
      t.same(answers.filter((a) => a.status === 403).map(errorOf), [{ ok: false, error: 'Cannot delete the only admin account' }]);
      t.equal(await activeAdmins(), 1, 'one admin remains');
    });

    for (const change of [{ role: 'user' }, { suspended: true }]) {
      await t.test(`round ${round}: every admin ${JSON.stringify(change)} the next one`, async (t) => {
        const { all, activeAdmins, base } = await admins(t);
        const answers = await together(ADMINS, (i) => call(base, 'PATCH', `/api/admin/users/${all[(i + 1) % ADMINS]!.id}`, { headers: all[i]!.headers, body: change }));
        const remaining = await activeAdmins();
        t.ok(remaining >= 1, 'at least one admin remains');
        // Refused as the last admin (409), or too late: the caller was demoted first (401, sessions
        // ended), or (PostgreSQL, where the caller's session and account are two reads) between
        // reading its session and its account (403, as for any suspended or demoted caller).
        t.ok(answers.every((a) => [200, 401, 403, 409].includes(a.status)), `statuses ${statuses(answers).join(',')}`);
        for (const late of answers.filter((a) => a.status === 403)) t.match(errorOf(late), { ok: false, error: /^(Account suspended|Admin access required)$/ });
        t.equal(answers.filter((a) => a.status === 200).length, ADMINS - remaining, 'each success removed one admin');
        for (const refused of answers.filter((a) => a.status === 409)) t.same(errorOf(refused), { ok: false, error: 'Cannot demote or suspend the last admin' });
      });
    }
  }
});
