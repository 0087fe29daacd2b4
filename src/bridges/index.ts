import type { AuthAppOptions } from '../auth/context.js';
import type { ManagerOptions } from '../manager/app.js';
import type { Clock } from '../shared/clock.js';
import type { Storage } from '../shared/db/storage.js';
import { createOrgData } from './auth-to-manager-org-data.js';
import { createIpReputation } from './auth-to-threat-cloud-reputation.js';
import { endpointQuota } from './manager-to-auth-quota.js';
import { threatCloudReports } from './manager-to-threat-cloud.js';
import { TC_CHANGES } from '../threat-cloud/services/ioc-merge.js';

/**
 * Every port the services declare for one another, implemented over the one database the
 * three apps share. `src/servers.ts` passes these to the apps; so do the test fixtures.
 */
export function createBridges(storage: Storage, clock: Clock) {
  return {
    auth: { orgData: createOrgData(storage), ipReputation: createIpReputation(storage) } satisfies AuthAppOptions,
    // The reports take Threat Cloud change positions inside the event batch: its transaction holds their lock.
    manager: { ingestHooks: [threatCloudReports(storage, clock)], ingestLocks: [TC_CHANGES], registrationHooks: [endpointQuota()] } satisfies ManagerOptions,
  };
}
export type Bridges = ReturnType<typeof createBridges>;
