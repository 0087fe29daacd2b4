import tap, { type Test } from 'tap';
import { createBridges } from '../../src/bridges/index.js';
import { buildManagerApp, type ManagerJobs, type ManagerOptions } from '../../src/manager/app.js';
import type { App } from '../../src/shared/base-app.js';
import { ManualClock } from '../../src/shared/clock.js';
import type { Db } from '../../src/shared/db/open.js';
import type { ResolvedConfig } from '../../src/config.js';
import { authHeader, buildTestApp, TEST_SECRETS } from '../helper.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { ENGINES, execute, selectRows, storageOn, type Engine } from '../engines.js';
import type { SeedUser } from '../seed.js';

export const OPERATOR = authHeader(TEST_SECRETS.managerAuthToken);
export const ENROLL_TOKEN = 'enroll-token-0123456789abcdefghijklmnopqrstuv';

export interface ManagerTestApp {
  app: App;
  db: Db;
  /** What the app runs on: the port over `db`, or the PostgreSQL storage it was given. */
  storage: Storage;
  config: ResolvedConfig;
  clock: ManualClock;
  /** The app's own background jobs, to run on demand. */
  jobs: ManagerJobs;
}

/** A Manager on a fresh temp file with a ManualClock and direct access to its background jobs. */
export async function buildManager(
  t: Test,
  options: { env?: Record<string, string>; db?: Db; storage?: Storage; config?: ResolvedConfig; clock?: ManualClock; manager?: ManagerOptions } = {},
): Promise<ManagerTestApp> {
  let jobs: ManagerJobs | undefined;
  const clock = options.clock ?? new ManualClock();
  const built = await buildTestApp(
    t,
    (deps) => {
      // Wired to the Auth and Threat Cloud tables as src/servers.ts wires it; a test's own hooks run after.
      const bridges = createBridges(deps.storage, deps.clock).manager;
      return buildManagerApp(deps, {
        ...options.manager,
        ingestHooks: [...bridges.ingestHooks, ...(options.manager?.ingestHooks ?? [])],
        registrationHooks: [...bridges.registrationHooks, ...(options.manager?.registrationHooks ?? [])],
        onJobs: (appJobs) => {
          jobs = appJobs;
          options.manager?.onJobs?.(appJobs);
        },
      });
    },
    { env: { MANAGER_RATE_LIMIT: '100000', ...options.env }, clock, ...(options.db ? { db: options.db } : {}), ...(options.storage ? { storage: options.storage } : {}), ...(options.config ? { config: options.config } : {}) },
  );
  return { app: built.app, db: built.db, storage: built.storage, config: built.config, clock, jobs: jobs! };
}

export interface RegisteredAgent {
  id: string;
  token: string;
  headers: { authorization: string };
  body: Record<string, unknown>;
}

export async function register(app: App, payload: Record<string, unknown> = {}, headers = OPERATOR): Promise<RegisteredAgent> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/agents/register',
    headers,
    payload: { hostname: 'web-01', os: 'linux', version: '1.2.3', ip: '10.0.0.5', ...payload },
  });
  if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  const data = res.json().data as Record<string, unknown> & { id: string; agentToken: string };
  return { id: data.id, token: data.agentToken, headers: authHeader(data.agentToken), body: data };
}


export function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'brute_force', severity: 'high', details: { sourceIp: '203.0.113.7', attempts: 12 }, ...overrides };
}

/**
 * A behaviour test that must hold on SQLite and on PostgreSQL alike: registered once per
 * engine, with the same body and the same assertions.
 */
export function onBothEngines(name: string, body: (t: Test, engine: Engine) => Promise<void>): void {
  for (const engine of ENGINES) tap.test(`${name} (${engine})`, (t) => body(t, engine));
}

/** `buildManager` on the given engine: its own temp file for SQLite, a fresh database for PostgreSQL. */
export async function buildManagerOn(
  t: Test,
  engine: Engine,
  options: Omit<NonNullable<Parameters<typeof buildManager>[1]>, 'storage' | 'db'> = {},
): Promise<ManagerTestApp> {
  const storage = await storageOn(engine);
  return buildManager(t, { ...options, ...(storage ? { storage } : {}) });
}

/**
 * The same storage for a second app (Auth and Manager over one database, as in the process):
 * closing it is left to the app that was given the storage itself, so the pool ends once.
 */
export function borrowed(storage: Storage): Storage {
  return Object.create(storage, { close: { value: async () => {} } }) as Storage;
}

/** Rows in a table, read through the port the app runs on. */
export async function countIn(storage: Storage, table: string): Promise<number> {
  const [row] = await selectRows<{ n: number }>(storage, `SELECT count(*) AS n FROM ${table}`);
  return Number(row!.n);
}

/**
 * `seedUser` (test/seed.ts) through the port, so a user the API cannot create quickly (an
 * org owner seen only from the Manager) exists on either engine.
 */
export async function seedUserIn(storage: Storage, user: SeedUser): Promise<{ id: string; email: string }> {
  const email = user.email ?? `${user.id}@example.com`;
  const createdAt = user.createdAt ?? '2026-01-01T00:00:00.000Z';
  await execute(
    storage,
    `INSERT INTO users (id, email, name, password_hash, role, tier, suspended, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [user.id, email, user.name ?? 'Seeded User', user.passwordHash ?? 'not-a-password-hash', user.role ?? 'user', user.tier ?? 'community', user.suspended ? 1 : 0, createdAt, createdAt],
  );
  return { id: user.id, email };
}
