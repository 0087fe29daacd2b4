import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, resolveConfig, type ResolvedConfig } from '../src/config.js';
import { MIGRATIONS } from '../src/migrations/index.js';
import type { App } from '../src/shared/base-app.js';
import { ManualClock, type Clock } from '../src/shared/clock.js';
import { migrate } from '../src/shared/db/migrate.js';
import { closeDatabase, openDatabase, type Db } from '../src/shared/db/open.js';
import { sqliteStorageOf } from '../src/shared/db/sqlite-storage.js';
import type { Storage } from '../src/shared/db/storage.js';
import type { ServiceDeps } from '../src/shared/service-deps.js';

/** Minimal view of tap's Test that the helpers need, so any test object fits. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export const TEST_SECRETS = {
  jwtSecret: 'test-jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz',
  managerAuthToken: 'test-manager-token-0123456789abcdefghijklmnop',
  tcAdminToken: 'test-tc-admin-token-0123456789abcdefghijklmnop',
  totpEncryptionKey: '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',
};

/** A temp folder removed after the test. */
export function tempDir(t: Teardown, prefix = 'panguard-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A configuration as the process would build it from these environment variables, with
 * fixed test secrets, a temp data folder and the cheap test scrypt cost.
 */
export function testConfig(t: Teardown, env: Record<string, string> = {}): ResolvedConfig {
  const dataDir = tempDir(t);
  const config = loadConfig({ env: { DATA_DIR: dataDir, AUTH_SCRYPT_LOG_N: '14', LOG_LEVEL: 'silent', ...env } });
  return resolveConfig(config, TEST_SECRETS);
}

/** The real SQLite file (in the config's data folder), migrated, closed after the test. */
export function testDb(t: Teardown, config: ResolvedConfig): Db {
  // Memory-mapped like the process's own connection, so every test reads the way production does.
  const db = openDatabase(config.databasePath, { mmapMiB: config.sqliteMmapMiB });
  migrate(db, MIGRATIONS);
  t.teardown(() => closeDatabase(db));
  return db;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  clock?: Clock;
  /** Reuse a database (e.g. to rebuild an app on the same file). */
  db?: Db;
  /**
   * Run the app on this storage instead (PostgreSQL, test/engines.ts); closed after the app.
   * The returned `db` is then a SQLite file the app never uses.
   */
  storage?: Storage;
  config?: ResolvedConfig;
}

/** Builds one service app on a fresh temp-file database; closed in teardown. */
export async function buildTestApp(
  t: Teardown,
  build: (deps: ServiceDeps) => Promise<App>,
  options: TestAppOptions = {},
): Promise<{ app: App; db: Db; storage: Storage; config: ResolvedConfig; clock: Clock }> {
  const config = options.config ?? testConfig(t, options.env);
  const db = options.db ?? testDb(t, config);
  const clock = options.clock ?? new ManualClock();
  const { storage } = options;
  const deps = storage ? { storage, config, clock } : sqliteDeps(db, config, clock);
  const app = await build(deps);
  t.teardown(async () => {
    await app.close();
    await storage?.close();
  });
  await app.ready();
  return { app, db, storage: deps.storage, config, clock };
}

/** What a service factory gets over a SQLite file: the port and, for SQLite's own features, the connection. */
export function sqliteDeps(db: Db, config: ResolvedConfig, clock: Clock): ServiceDeps {
  return { storage: sqliteStorageOf(db), sqlite: db, config, clock };
}

export const authHeader = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * Every combination of a list's filters (none, each alone, every pair … all), with the
 * parameters and the SQL `WHERE` that select the same rows directly: what the no-stall tests
 * compare each list page and total against.
 */
export function filterCombinations<K extends string, V>(values: Record<K, V>, sql: Record<K, string>) {
  const keys = Object.keys(values) as K[];
  return Array.from({ length: 1 << keys.length }, (_, mask) => {
    const present = keys.filter((_, i) => mask & (1 << i));
    return {
      present,
      params: Object.fromEntries(present.map((key) => [key, values[key]])) as Partial<Record<K, V>>,
      where: present.length > 0 ? `WHERE ${present.map((key) => sql[key]).join(' AND ')}` : '',
    };
  });
}

/** Rows in a table: what a test asserts was (or was not) stored. */
export function countRows(db: Db, table: string): number {
  return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}
