import type { Db } from '../shared/db/open.js';
import { rebuildThreatBuckets } from '../manager/stores/threat-buckets.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 14,
  name: 'manager: hostname order for fleet search and sort, threat events per 5-minute bucket for the time series',
  up: agentSearchSchema,
};

/**
 * Migration 14: what the console's fleet search and sort and its events-over-time chart need
 * without a request walking the fleet or the events: one slow query
 * would stall all three services, which share one event loop.
 *
 * - Agents in hostname order ignoring ASCII case (the sort) over the fleet and per org: a
 *   hostname prefix search is a range of the same index, its total a count of that range.
 *   Neither holds the heartbeat time, so a heartbeat rewrites no more index entries than before.
 * - `threat_buckets`: threat events per 5-minute UTC bucket and severity, per org and over
 *   every org (scope ''), kept with each stored batch (see manager/stores/threat-buckets.ts),
 *   so the time series reads at most 8,640 rows for 30 days. Buckets more than 31 days old
 *   answer no period: the sweeper deletes them in steps (by `threat_buckets_age`).
 */
function agentSearchSchema(db: Db): void {
  db.exec(`
    CREATE INDEX agents_hostname ON agents (hostname COLLATE NOCASE, id);
    CREATE INDEX agents_org_hostname ON agents (org_id, hostname COLLATE NOCASE, id);

    CREATE TABLE threat_buckets (
      scope     TEXT NOT NULL,
      bucket_ms INTEGER NOT NULL,
      low       INTEGER NOT NULL,
      medium    INTEGER NOT NULL,
      high      INTEGER NOT NULL,
      critical  INTEGER NOT NULL,
      PRIMARY KEY (scope, bucket_ms)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX threat_buckets_age ON threat_buckets (bucket_ms);
  `);
  rebuildThreatBuckets(db, Date.now());
}
