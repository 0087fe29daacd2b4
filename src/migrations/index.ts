import type { Migration } from '../shared/db/migrate.js';
import { migration as core } from './001-core.js';
import { migration as manager } from './002-manager.js';
import { migration as threatCloud } from './003-threat-cloud.js';
import { migration as auth } from './004-auth.js';
import { migration as intel } from './005-intel.js';
import { migration as intelRollups } from './006-intel-rollups.js';
import { migration as enrollTokens } from './007-enroll-tokens.js';
import { migration as reporterIdentity } from './008-reporter-identity.js';
import { migration as knownAddresses } from './009-known-addresses.js';
import { migration as threatCloudListing } from './010-threat-cloud-listing.js';
import { migration as readIndexes } from './011-read-indexes.js';
import { migration as keyGeneration } from './012-key-generation.js';
import { migration as stixLineage } from './013-stix-lineage.js';
import { migration as agentSearch } from './014-agent-search.js';
import { migration as clusterCoordination } from './015-cluster-coordination.js';

/**
 * The one ordered, append-only list of schema steps of the shared SQLite file: one file per
 * step, `NNN-<what>.ts`, NNN its version. Never edit a step that has shipped: add a new file
 * with the next number and append it here.
 */
export const MIGRATIONS: readonly Migration[] = [
  core,
  manager,
  threatCloud,
  auth,
  intel,
  intelRollups,
  enrollTokens,
  reporterIdentity,
  knownAddresses,
  threatCloudListing,
  readIndexes,
  keyGeneration,
  stixLineage,
  agentSearch,
  clusterCoordination,
];
