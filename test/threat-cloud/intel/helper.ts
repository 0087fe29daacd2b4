import { buildThreatCloudApp, type ThreatCloudJobs, type ThreatCloudOptions } from '../../../src/threat-cloud/app.js';
import type { LightMyRequestResponse } from 'fastify';
import type { App } from '../../../src/shared/base-app.js';
import { ManualClock } from '../../../src/shared/clock.js';
import type { Db } from '../../../src/shared/db/open.js';
import type { Tier } from '../../../src/shared/tiers.js';
import { newId } from '../../../src/shared/tokens.js';
import type { Storage } from '../../../src/shared/db/storage.js';
import type { NewApiKey } from '../../../src/shared/api-keys.js';
import { seedUser, seedUserIn } from '../../seed.js';
import { storeKey, storeKeyNow } from '../fixtures.js';
import { storageOn, type Engine } from '../../engines.js';
import { authHeader, buildTestApp, type Teardown } from '../../helper.js';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export interface IntelHarness {
  app: App;
  db: Db;
  clock: ManualClock;
  /** An operator key with every scope (one reporter). */
  key: string;
  /** Another operator key: a second, independent reporter. */
  otherKey: string;
  /** The app's own background jobs, to run on demand. */
  jobs: ThreatCloudJobs;
  /** A user-owned key of the given tier (the owner is created). */
  userKey(tier: Tier): string;
  /** Runs the app's campaign correlation over everything reported so far, batch after batch as the job does. */
  correlate(): Promise<number>;
  get(url: string, key?: string): Promise<LightMyRequestResponse>;
  post(url: string, payload: object, key?: string): Promise<LightMyRequestResponse>;
}

/**
 * The harness's app (limits out of the way: these tests are about data, not throttling), two
 * operator keys made by `operatorKey`, correlation run to the end, and requests as a key.
 */
async function harnessApp(
  t: Teardown,
  options: ThreatCloudOptions,
  storage: Storage | undefined,
  operatorKey: (built: { db: Db; storage: Storage; clock: ManualClock }) => string | Promise<string>,
) {
  const clock = new ManualClock();
  let jobs: ThreatCloudJobs | undefined;
  const onJobs = (appJobs: ThreatCloudJobs) => {
    jobs = appJobs;
    options.onJobs?.(appJobs);
  };
  const built = await buildTestApp(t, (deps) => buildThreatCloudApp(deps, { ...options, onJobs }), {
    clock,
    env: { TC_TIER_LIMITS: JSON.stringify({ community: 100000, solo: 100000, enterprise: 100000 }) },
    ...(storage ? { storage } : {}),
  });
  const key = await operatorKey({ ...built, clock });
  const otherKey = await operatorKey({ ...built, clock });
  const { correlation } = jobs!;
  return {
    app: built.app,
    db: built.db,
    storage: built.storage,
    clock,
    key,
    otherKey,
    jobs: jobs!,
    async correlate() {
      let total = 0;
      for (let n = await correlation.runBatch(); n > 0; n = await correlation.runBatch()) total += n;
      return total;
    },
    get: (url: string, withKey = key) => built.app.inject({ method: 'GET', url, headers: authHeader(withKey) }),
    post: (url: string, payload: object, withKey = key) => built.app.inject({ method: 'POST', url, payload, headers: authHeader(withKey) }),
  };
}

const operatorKeyInput = (): NewApiKey => ({ name: 'test', origin: 'operator', tier: 'enterprise', scopes: ['read', 'write', 'admin'] });
const userKeyInput = (ownerUserId: string): NewApiKey => ({ name: 'user key', origin: 'user', ownerUserId, scopes: ['read', 'write'] });

export async function buildIntelHarness(t: Teardown, options: ThreatCloudOptions = {}): Promise<IntelHarness> {
  const harness = await harnessApp(t, options, undefined, ({ db, clock }) => storeKeyNow(db, clock, operatorKeyInput()).key);
  const { db, clock } = harness;
  return {
    ...harness,
    userKey(tier) {
      const userId = newId('usr_');
      seedUser(db, { id: userId, tier, createdAt: new Date(clock.now()).toISOString() });
      return storeKeyNow(db, clock, userKeyInput(userId)).key;
    },
  };
}

/**
 * The harness on either engine: `storage` (what the app runs on) instead of a SQLite
 * connection, and user keys written through it, so the same test runs on SQLite and PostgreSQL.
 */
export interface IntelHarnessOn extends Omit<IntelHarness, 'db' | 'userKey'> {
  storage: Storage;
  /** A user-owned key of the given tier (the owner is created). */
  userKey(tier: Tier): Promise<string>;
}

export async function buildIntelHarnessOn(t: Teardown, engine: Engine, options: ThreatCloudOptions = {}): Promise<IntelHarnessOn> {
  const harness = await harnessApp(t, options, await storageOn(engine), async ({ storage, clock }) => (await storeKey(storage, clock, operatorKeyInput())).key);
  const { storage, clock } = harness;
  return {
    ...harness,
    async userKey(tier) {
      const userId = newId('usr_');
      await seedUserIn(storage, { id: userId, tier, createdAt: new Date(clock.now()).toISOString() });
      return (await storeKey(storage, clock, userKeyInput(userId))).key;
    },
  };
}

export interface ThreatInput {
  type: string;
  value: string;
  category?: string;
  severity?: string;
  metadata?: Record<string, unknown>;
}

/** POST /api/threats with a source, failing loudly if the upload is refused. */
export async function report(h: Pick<IntelHarness, 'key' | 'post'>, threats: ThreatInput[], key = h.key): Promise<string[]> {
  const res = await h.post('/api/threats', { threats: threats.map((threat) => ({ source: 'test-feed', ...threat })) }, key);
  if (res.statusCode !== 201) throw new Error(`upload refused: ${res.statusCode} ${res.body}`);
  return (res.json() as { data: { iocIds: string[] } }).data.iocIds;
}

