import type { Migration } from './shared/db/migrate.js';
import { authReadSchema } from './auth/read-schema.js';
import { managerReadSchema } from './manager/read-schema.js';
import { coreSchema } from './shared/db/core-schema.js';
import { managerSchema } from './manager/schema.js';
import { threatCloudSchema } from './threat-cloud/schema.js';
import { authSchema } from './auth/schema.js';
import { intelSchema } from './threat-cloud/intel/schema.js';
import { analyticsRollupSchema } from './threat-cloud/intel/rollup-schema.js';
import { reporterIdentityMigration } from './threat-cloud/reporter-identity-migration.js';
import { enrollTokensSchema } from './auth/enroll-tokens-schema.js';
import { knownAddressesSchema } from './auth/known-addresses-schema.js';
import { listingSchema } from './threat-cloud/listing-schema.js';
import { keyGenerationSchema } from './shared/db/key-generation-schema.js';
import { stixLineageSchema } from './threat-cloud/stix-lineage-schema.js';
import { agentSearchSchema } from './manager/agent-search-schema.js';

/**
 * The one ordered, append-only list of schema steps of the shared SQLite file.
 * Never edit a step that has shipped: add a new one.
 */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'core: users, api keys, usage counters', up: coreSchema },
  { version: 2, name: 'manager: agents, events, policies, stream', up: managerSchema },
  { version: 3, name: 'threat cloud: iocs, sightings, feeds, audit', up: threatCloudSchema },
  { version: 4, name: 'auth: sessions, totp, reset, mail, billing, audit', up: authSchema },
  { version: 5, name: 'threat cloud intel: campaigns, correlation, technique index', up: intelSchema },
  { version: 6, name: 'threat cloud intel: hourly roll-ups for time-window analytics', up: analyticsRollupSchema },
  { version: 7, name: 'auth: enrollment tokens users make for their own Guard agents', up: enrollTokensSchema },
  { version: 8, name: 'threat cloud: fleet reporters as their user or the one Manager, sightings without fleet ids', up: reporterIdentityMigration },
  { version: 9, name: 'auth: known addresses that the account-wide login failure cap spares', up: knownAddressesSchema },
  { version: 10, name: 'threat cloud: list indexes and counters, so no list or statistic stalls the process', up: listingSchema },
  {
    version: 11,
    name: 'manager and auth: list indexes, kept counts and threat windows, so no list or summary holds the event loop',
    up: (db) => {
      managerReadSchema(db);
      authReadSchema(db);
    },
  },
  { version: 12, name: 'shared: API-key generation counter kept by triggers, so verified keys can be cached exactly', up: keyGenerationSchema },
  { version: 13, name: 'threat cloud: earlier STIX ids of IoCs re-activated after a revocation', up: stixLineageSchema },
  { version: 14, name: 'manager: hostname order for fleet search and sort, threat events per 5-minute bucket for the time series', up: agentSearchSchema },
];
