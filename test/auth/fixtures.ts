import { ManualClock } from '../../src/shared/clock.js';
import { buildAuthApp } from '../../src/auth/app.js';
import { createBridges } from '../../src/bridges/index.js';
import type { AuthAppOptions, AuthJobs } from '../../src/auth/context.js';
import type { App } from '../../src/shared/base-app.js';
import type { Db } from '../../src/shared/db/open.js';
import type { ResolvedConfig } from '../../src/config.js';
import { authHeader, buildTestApp, type Teardown } from '../helper.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { codeAt, TOTP_PERIOD_SECONDS } from '../../src/auth/services/totp-crypto.js';
import { execute, selectRows, storageOn, type Engine } from '../engines.js';

export { countIn, onBothEngines } from '../engines.js';
export { seedAgentIn, seedIocIn } from '../seed.js';

export const PASSWORD = 'correct horse battery';

export interface AuthFixture {
  app: App;
  db: Db;
  /** What the app runs on: the port over `db`, or the PostgreSQL storage it was given. */
  storage: Storage;
  config: ResolvedConfig;
  clock: ManualClock;
  /** The app's own background jobs, to run on demand. */
  jobs: AuthJobs;
}

/**
 * An Auth Server on a fresh temp-file database with a manual clock. Limits are scaled up
 * unless a test is about limits, so ordinary tests never trip them.
 */
export async function buildAuth(
  t: Teardown,
  options: { env?: Record<string, string>; db?: Db; storage?: Storage; config?: ResolvedConfig; app?: AuthAppOptions } = {},
): Promise<AuthFixture> {
  const clock = new ManualClock();
  const env = { RATE_LIMIT_SCALE: '100', ...options.env };
  // A cheap scrypt cost keeps the suite fast; test/auth/password.test.ts covers the configured one.
  let jobs: AuthJobs | undefined;
  const appOptions: AuthAppOptions = {
    scryptLogNOverride: 10,
    ...options.app,
    onJobs: (appJobs) => {
      jobs = appJobs;
      options.app?.onJobs?.(appJobs);
    },
  };
  // Wired to the Manager and Threat Cloud tables as src/servers.ts wires it.
  const built = await buildTestApp(t, (deps) => buildAuthApp(deps, { ...createBridges(deps.storage, deps.clock).auth, ...appOptions }), {
    env,
    clock,
    ...(options.db ? { db: options.db } : {}),
    ...(options.storage ? { storage: options.storage } : {}),
    ...(options.config ? { config: options.config } : {}),
  });
  return { ...built, clock, jobs: jobs! };
}

let counter = 0;
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}${counter}-${process.pid}@example.com`;
}

export interface Account {
  id: string;
  email: string;
  token: string;
  headers: Record<string, string>;
}

/** Registers an account; from a non-loopback address unless told, so it is a plain user. */
export async function register(app: App, options: { email?: string; password?: string; name?: string; ip?: string } = {}): Promise<Account> {
  const email = options.email ?? uniqueEmail();
  const res = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    remoteAddress: options.ip ?? '203.0.113.10',
    payload: { email, name: options.name ?? 'Test User', password: options.password ?? PASSWORD },
  });
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  const data = res.json().data;
  return { id: data.user.id, email, token: data.token, headers: authHeader(data.token) };
}

/** The first account, registered from loopback: the admin. */
export async function registerAdmin(app: App, email = uniqueEmail('admin')): Promise<Account> {
  return register(app, { email, ip: '127.0.0.1' });
}

export async function login(app: App, email: string, password = PASSWORD, extra: Record<string, unknown> = {}, ip = '198.51.100.7') {
  return app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { email, password, ...extra } });
}

/** Sets up and enables TOTP for an account; returns the secret and backup codes. */
export async function enableTotp(fixture: AuthFixture, account: Account): Promise<{ secret: string; backupCodes: string[] }> {
  const setup = await fixture.app.inject({ method: 'POST', url: '/api/auth/totp/setup', headers: account.headers });
  if (setup.statusCode !== 200) throw new Error(`setup failed: ${setup.body}`);
  const { secret, backupCodes } = setup.json().data;
  const verify = await fixture.app.inject({
    method: 'POST',
    url: '/api/auth/totp/verify',
    headers: account.headers,
    payload: { totpCode: codeAt(secret, fixture.clock.now()) },
  });
  if (verify.statusCode !== 200) throw new Error(`verify failed: ${verify.body}`);
  // The enrolment code's step is used up; later codes come from the next step.
  fixture.clock.advance(30_000);
  return { secret, backupCodes };
}


/**
 * A TOTP code the server refuses at `nowMs`. The server accepts the codes of the steps −1, 0
 * and +1 around its clock, so a fixed "wrong" code such as 000000 is right about three times
 * in a million: then it answers 200 and uses up a step, and the test's next right code is
 * refused as a replay. This one differs from the code of every step within `window` steps
 * (the server's window by default; a real process, whose clock moves, wants a wider one).
 */
export function wrongTotpCode(secret: string, nowMs: number, window = 1): string {
  const accepted = new Set<string>();
  for (let step = -window; step <= window; step++) accepted.add(codeAt(secret, nowMs + step * TOTP_PERIOD_SECONDS * 1000));
  for (let candidate = 0; ; candidate += 111_111) {
    const code = String(candidate % 1_000_000).padStart(6, '0');
    if (!accepted.has(code)) return code;
  }
}

/**
 * Waits for the work the Auth Server does after its answer is sent (the reset link after
 * forgot-password, the notice after a duplicate registration), so a test can read the outbox.
 */
export async function settled(app: App): Promise<void> {
  await app.authSettled!();
}

/** An Auth Server on the given engine: `buildAuth` with the storage that engine needs. */
export async function buildAuthOn(t: Teardown, engine: Engine, options: Omit<Parameters<typeof buildAuth>[1] & object, 'storage' | 'db'> = {}): Promise<AuthFixture> {
  const storage = await storageOn(engine);
  return buildAuth(t, { ...options, ...(storage ? { storage } : {}) });
}

/** The `n` of a `SELECT count(*) AS n …` query, through the port the app runs on. */
export async function countOf(storage: Storage, sql: string, params: readonly unknown[] = []): Promise<number> {
  const [row] = await selectRows<{ n: number }>(storage, sql, params);
  return Number(row!.n);
}

/**
 * Makes every insert into the outbox fail with "outbox unavailable", on either engine, until
 * the returned function is called: how a test shows that a mail which cannot be queued fails
 * nothing else. SQLite gets a trigger on the test's own connection, PostgreSQL one on the table.
 */
export async function breakOutbox(storage: Storage, engine: Engine): Promise<() => Promise<void>> {
  if (engine === 'sqlite') {
    await execute(storage, `CREATE TEMP TRIGGER outbox_down BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END`);
    return async () => void (await execute(storage, `DROP TRIGGER outbox_down`));
  }
  await execute(storage, `CREATE FUNCTION outbox_down() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''outbox unavailable''; END'`);
  await execute(storage, `CREATE TRIGGER outbox_down BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_down()`);
  return async () => void (await execute(storage, `DROP TRIGGER outbox_down ON outbox`));
}
