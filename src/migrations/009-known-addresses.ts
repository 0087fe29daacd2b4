import type { Db } from '../shared/db/open.js';
import type { Migration } from '../shared/db/migrate.js';

export const migration: Migration = {
  version: 9,
  name: 'auth: known addresses that the account-wide login failure cap spares',
  up: knownAddressesSchema,
};

/**
 * Migration v9: the addresses each account fully signed in from (password and, when enabled,
 * the second factor), with the time of the last such sign-in. The account-wide failure cap
 * spares them for 30 days, so a botnet cannot lock an owner out of their usual place. One row
 * per account and address; rows go with their owner; the hourly sweep drops stale ones.
 */
function knownAddressesSchema(db: Db): void {
  db.exec(`
    CREATE TABLE known_addresses (
      user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      ip              TEXT NOT NULL,
      last_success_at TEXT NOT NULL,
      PRIMARY KEY (user_id, ip)
    ) STRICT;
    CREATE INDEX known_addresses_last_success ON known_addresses (last_success_at);
  `);
}
