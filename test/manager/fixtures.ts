import type { Redis } from 'ioredis';
import type { Test } from 'tap';
import { createBridges } from '../../src/bridges/index.js';
import { buildManagerApp, type ManagerJobs, type ManagerOptions } from '../../src/manager/app.js';
import type { App } from '../../src/shared/base-app.js';
import { ManualClock } from '../../src/shared/clock.js';
import type { Db } from '../../src/shared/db/open.js';
import type { ResolvedConfig } from '../../src/config.js';
import { authHeader, buildTestApp, TEST_SECRETS } from '../helper.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { storageOn, type Engine } from '../engines.js';

export { borrowed, countIn, onBothEngines } from '../engines.js';
export { seedUserIn } from '../seed.js';

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
  options: { env?: Record<string, string>; db?: Db; storage?: Storage; config?: ResolvedConfig; clock?: ManualClock; manager?: ManagerOptions; redis?: Redis } = {},
): Promise<ManagerTestApp> {
  let jobs: ManagerJobs | undefined;
  const clock = options.clock ?? new ManualClock();
  const built = await buildTestApp(
    t,
    (deps) => {
      // Wired to the Auth and Threat Cloud tables as src/servers.ts wires it; a test's own hooks run after.
      const bridges = createBridges(deps.storage, deps.clock).manager;
      return buildManagerApp(options.redis ? { ...deps, redis: options.redis } : deps, {
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

/** `buildManager` on the given engine: its own temp file for SQLite, a fresh database for PostgreSQL. */
export async function buildManagerOn(
  t: Test,
  engine: Engine,
  options: Omit<NonNullable<Parameters<typeof buildManager>[1]>, 'storage' | 'db'> = {},
): Promise<ManagerTestApp> {
  const storage = await storageOn(engine);
  return buildManager(t, { ...options, ...(storage ? { storage } : {}) });
}
