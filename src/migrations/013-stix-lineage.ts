import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 13,
  name: 'threat cloud: earlier STIX ids of IoCs re-activated after a revocation',
  up: stixLineageSchema,
};

/**
 * Migration 13: what an IoC's earlier STIX indicators were. STIX 2.1 makes a revocation
 * permanent for an id, so an IoC an operator sets back to `active` after whitelisting or
 * revoking it is exported under a new id; the feed keeps naming each earlier id as revoked,
 * with the `modified` of its last version, so a consumer that missed the revocation still
 * withdraws it. One entry per re-activation, oldest first: what the id's last version
 * exported (`revoked`: its `modified`; `confidence`, `category`) and when the next id began
 * (`reactivated`). Adding a column with a constant default rewrites nothing.
 */
function stixLineageSchema(db: Db): void {
  db.exec(`ALTER TABLE iocs ADD COLUMN stix_lineage TEXT NOT NULL DEFAULT '[]'`);
}
