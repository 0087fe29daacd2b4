import type { PostgresMigration } from '../../shared/db/migrate-postgres.js';
import { postgresMigration as clusterCoordination } from '../015-cluster-coordination.js';
import { baseline } from './baseline.js';

/**
 * The ordered, append-only list of PostgreSQL schema steps. It starts at the baseline (the
 * SQLite schema at version 14, the last SQLite step before PostgreSQL existed); every later
 * step is written for both engines and carries the same version in both lists.
 */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [baseline, clusterCoordination];
