import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';
import type { PostgresMigration } from '../shared/db/migrate-postgres.js';

/**
 * Migration 15: what several replicas over one PostgreSQL database coordinate through (on
 * SQLite, with one process, the same tables simply have one user):
 * - `job_leases`: a background job (status sweep, reputation refresh, correlation, retention,
 *   Auth maintenance) runs once per interval across the replicas. The replica that claims an
 *   interval gets the next `fence` number; each write transaction of its run checks that the
 *   lease still carries it, so a paused former holder cannot write after another took over.
 * - `outbox.claimed_until`: a pending mail is claimed before it is sent (on PostgreSQL with
 *   `FOR UPDATE SKIP LOCKED`), so one replica delivers it, and a claim left by a replica that
 *   died lapses and is taken again.
 * - `cluster_secrets`: secrets a deployment did not supply, generated once under a lock and
 *   shared by every replica (the JWT key, the TOTP encryption key, the service tokens).
 */
const JOB_LEASES = {
  sqlite: `CREATE TABLE job_leases (
      name        TEXT PRIMARY KEY,
      holder      TEXT NOT NULL,
      fence       INTEGER NOT NULL,
      expires_at  INTEGER NOT NULL,
      last_run_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID`,
  postgres: `CREATE TABLE job_leases (
      name        text PRIMARY KEY,
      holder      text NOT NULL,
      fence       bigint NOT NULL,
      expires_at  bigint NOT NULL,
      last_run_at bigint NOT NULL
    )`,
};
const OUTBOX_CLAIMS = {
  sqlite: `ALTER TABLE outbox ADD COLUMN claimed_until TEXT`,
  postgres: `ALTER TABLE outbox ADD COLUMN claimed_until text`,
};
const CLUSTER_SECRETS = {
  sqlite: `CREATE TABLE cluster_secrets (
      name       TEXT PRIMARY KEY,
      value      TEXT NOT NULL,
      created_at TEXT NOT NULL
    ) STRICT, WITHOUT ROWID`,
  postgres: `CREATE TABLE cluster_secrets (
      name       text PRIMARY KEY,
      value      text NOT NULL,
      created_at text NOT NULL
    )`,
};
const STEPS = [JOB_LEASES, OUTBOX_CLAIMS, CLUSTER_SECRETS];
const NAME = 'cluster: job leases, outbox claims and shared generated secrets, for several replicas over one database';

export const migration: Migration = {
  version: 15,
  name: NAME,
  up: (db: Db) => {
    for (const step of STEPS) db.exec(step.sqlite);
  },
};

export const postgresMigration: PostgresMigration = {
  version: 15,
  name: NAME,
  statements: STEPS.map((step) => step.postgres),
};
