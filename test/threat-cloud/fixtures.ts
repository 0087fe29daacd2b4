import { seedUser, seedUserIn } from '../seed.js';
import { postgresUrlOf, selectRows, storageOn, type Engine } from '../engines.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';

export { countIn, execute, onBothEngines, postgresUrlOf, selectRows } from '../engines.js';
import { connectPostgres } from '../postgres.js';
import { copyIntoTarget } from '../../src/cli/data-copy.js';
import { seededRowCounts } from '../../src/cli/postgres-target.js';
import { POSTGRES_MIGRATIONS } from '../../src/migrations/postgres/index.js';
import type { InjectOptions } from 'fastify';
import { API_KEY_STATEMENTS, keyRecordOf, newKeyRow, type ApiKeyRecord, type KeyRow, type KeyScope, type NewApiKey } from '../../src/shared/api-keys.js';
import { ManualClock } from '../../src/shared/clock.js';
import type { Db } from '../../src/shared/db/open.js';
import type { Tier } from '../../src/shared/tiers.js';
import { newId } from '../../src/shared/tokens.js';
import { buildThreatCloudApp, type ThreatCloudJobs } from '../../src/threat-cloud/app.js';
import { authHeader, buildTestApp, TEST_SECRETS, testConfig, testDb, type Teardown } from '../helper.js';
import type { Storage } from '../../src/shared/db/storage.js';

export const BOOTSTRAP_KEY = 'tc-bootstrap-key-0123456789abcdefghijklmnopqrstuvwxyz';
export const ADMIN = authHeader(TEST_SECRETS.tcAdminToken);

/**
 * A Threat Cloud app on a temp-file database with one bootstrap key and a manual clock, and
 * its own background jobs (`jobs`) to run on demand.
 */
export async function buildThreatCloud(t: Teardown, options: { env?: Record<string, string>; db?: Db; storage?: Storage } = {}) {
  const clock = new ManualClock();
  let jobs: ThreatCloudJobs | undefined;
  const built = await buildTestApp(t, (deps) => buildThreatCloudApp(deps, { onJobs: (appJobs) => (jobs = appJobs) }), {
    clock,
    env: { TC_API_KEYS: BOOTSTRAP_KEY, RATE_LIMIT_SCALE: '100', ...options.env },
    ...(options.db ? { db: options.db } : {}),
    ...(options.storage ? { storage: options.storage } : {}),
  });
  const inject = (opts: InjectOptions & { key?: string | null }) => {
    const { key, ...rest } = opts;
    const headers = { ...(rest.headers ?? {}) } as Record<string, string>;
    if (key !== null) headers.authorization = `Bearer ${key ?? BOOTSTRAP_KEY}`;
    return built.app.inject({ ...rest, headers });
  };
  return { ...built, clock, jobs: jobs!, inject };
}

/**
 * A key stored with the store's own row and statements, at once: what the store's `create`
 * does, without a promise, so fixtures can hand keys out synchronously (outside any transaction).
 */
export function storeKeyNow(db: Db, clock: ManualClock, input: NewApiKey): { record: ApiKeyRecord; key: string } {
  const { row, key } = newKeyRow(input, clock.now());
  db.prepare(API_KEY_STATEMENTS.insert.sql).run(row);
  return { record: keyRecordOf(db.prepare<[string], KeyRow>(API_KEY_STATEMENTS.byId.sql).get(row.id)!), key };
}

/** The same through the storage port, on either engine. */
export async function storeKey(storage: Storage, clock: ManualClock, input: NewApiKey): Promise<{ record: ApiKeyRecord; key: string }> {
  const { row, key } = newKeyRow(input, clock.now());
  await storage.run(API_KEY_STATEMENTS.insert, row);
  return { record: keyRecordOf((await storage.get(API_KEY_STATEMENTS.byId, [row.id]))!), key };
}

/** A user row and a user key of that tier (what the Auth Server would make). */
export function userKey(db: Db, clock: ManualClock, tier: Tier, options: { suspended?: boolean; scopes?: KeyScope[] } = {}) {
  const userId = newId('usr_');
  seedUser(db, { id: userId, tier, suspended: options.suspended, createdAt: new Date(clock.now()).toISOString() });
  const { key, record } = storeKeyNow(db, clock, { name: 'user key', origin: 'user', ownerUserId: userId, scopes: options.scopes ?? ['read', 'write'] });
  return { userId, key, record };
}

/** An operator key made with the store's own statements. */
export function operatorKey(db: Db, clock: ManualClock, tier: Tier, scopes: KeyScope[]) {
  return storeKeyNow(db, clock, { name: 'operator key', origin: 'operator', tier, scopes });
}

export function threat(value: string, extra: Record<string, unknown> = {}) {
  return { type: 'ip', value, source: 'test-sensor', ...extra };
}

/** `userKey` through the storage port, on either engine. */
export async function userKeyOn(storage: Storage, clock: ManualClock, tier: Tier, options: { suspended?: boolean; scopes?: KeyScope[] } = {}) {
  const userId = newId('usr_');
  await seedUserIn(storage, { id: userId, tier, suspended: options.suspended, createdAt: new Date(clock.now()).toISOString() });
  const { key, record } = await storeKey(storage, clock, { name: 'user key', origin: 'user', ownerUserId: userId, scopes: options.scopes ?? ['read', 'write'] });
  return { userId, key, record };
}

/** `operatorKey` through the storage port, on either engine. */
export function operatorKeyOn(storage: Storage, clock: ManualClock, tier: Tier, scopes: KeyScope[]) {
  return storeKey(storage, clock, { name: 'operator key', origin: 'operator', tier, scopes });
}


/**
 * Copies every row of a SQLite file into the (still untouched) PostgreSQL database of a
 * storage, as `migrate-data` does: rows only SQLite's SQL can generate quickly, on PostgreSQL.
 */
export async function copyIntoPostgres(t: Teardown, storage: Storage, source: Db): Promise<void> {
  const client = await connectPostgres(t, await postgresUrlOf(storage));
  const version = POSTGRES_MIGRATIONS.at(-1)!.version;
  await copyIntoTarget(client, source, { version, seeded: seededRowCounts(version) });
}

/** A Threat Cloud app (as `buildThreatCloud`) on the engine: its own temp file, or a fresh PostgreSQL database. */
export async function buildThreatCloudOn(t: Teardown, engine: Engine, options: { env?: Record<string, string> } = {}) {
  const storage = await storageOn(engine);
  return buildThreatCloud(t, { ...options, ...(storage ? { storage } : {}) });
}

/**
 * A migrated database with no app on it, through the port: a temp SQLite file, or a fresh
 * PostgreSQL database; closed after the test. For stores and jobs driven directly.
 */
export async function bareStorageOn(t: Teardown, engine: Engine): Promise<Storage> {
  const postgres = await storageOn(engine);
  if (postgres === undefined) return sqliteStorageOf(testDb(t, testConfig(t)));
  t.teardown(() => postgres.close());
  return postgres;
}
