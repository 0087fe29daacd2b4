import { buildThreatCloudApp, type ThreatCloudJobs, type ThreatCloudOptions } from '../../../src/threat-cloud/app.js';
import type { LightMyRequestResponse } from 'fastify';
import type { App } from '../../../src/shared/base-app.js';
import { ManualClock } from '../../../src/shared/clock.js';
import type { Db } from '../../../src/shared/db/open.js';
import type { Tier } from '../../../src/shared/tiers.js';
import { newId } from '../../../src/shared/tokens.js';
import { seedUser } from '../../seed.js';
import { storeKeyNow } from '../fixtures.js';
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

export async function buildIntelHarness(t: Teardown, options: ThreatCloudOptions = {}): Promise<IntelHarness> {
  const clock = new ManualClock();
  let jobs: ThreatCloudJobs | undefined;
  const onJobs = (appJobs: ThreatCloudJobs) => {
    jobs = appJobs;
    options.onJobs?.(appJobs);
  };
  const { app, db } = await buildTestApp(t, (deps) => buildThreatCloudApp(deps, { ...options, onJobs }), {
    clock,
    // Limits out of the way: these tests are about data, not throttling.
    env: { TC_TIER_LIMITS: JSON.stringify({ community: 100000, solo: 100000, enterprise: 100000 }) },
  });
  const operator = () => storeKeyNow(db, clock, { name: 'test', origin: 'operator', tier: 'enterprise', scopes: ['read', 'write', 'admin'] }).key;
  const key = operator();
  const otherKey = operator();
  const { correlation } = jobs!;
  return {
    app,
    db,
    clock,
    key,
    otherKey,
    jobs: jobs!,
    userKey(tier) {
      const userId = newId('usr_');
      seedUser(db, { id: userId, tier, createdAt: new Date(clock.now()).toISOString() });
      return storeKeyNow(db, clock, { name: 'user key', origin: 'user', ownerUserId: userId, scopes: ['read', 'write'] }).key;
    },
    async correlate() {
      let total = 0;
      for (let n = await correlation.runBatch(); n > 0; n = await correlation.runBatch()) total += n;
      return total;
    },
    get: (url, withKey = key) => app.inject({ method: 'GET', url, headers: authHeader(withKey) }),
    post: (url, payload, withKey = key) => app.inject({ method: 'POST', url, payload, headers: authHeader(withKey) }),
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
export async function report(h: IntelHarness, threats: ThreatInput[], key = h.key): Promise<string[]> {
  const res = await h.post('/api/threats', { threats: threats.map((threat) => ({ source: 'test-feed', ...threat })) }, key);
  if (res.statusCode !== 201) throw new Error(`upload refused: ${res.statusCode} ${res.body}`);
  return (res.json() as { data: { iocIds: string[] } }).data.iocIds;
}

