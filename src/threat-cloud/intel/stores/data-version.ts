import { defineStatement, type Storage } from '../../../shared/db/storage.js';

/** What the aggregates read has changed when any of these moved. */
export interface DataVersion {
  /** The newest report (sightings rowid). */
  reports: number | null;
  /** The change sequence (new IoCs, status changes). */
  seq: number | null;
  /** The correlation watermark. */
  correlated: number | null;
}

const VERSION = defineStatement<void, DataVersion>(
  `SELECT (SELECT max(rowid) FROM sightings) AS reports,
            (SELECT value FROM tc_state WHERE name = 'seq') AS seq,
            (SELECT value FROM intel_state WHERE name = 'correlated_sighting') AS correlated`,
);

/** One cheap read (indexed max and two state rows) that tells whether the intel data changed. */
export function createDataVersionStore(storage: Storage) {
  return {
    async read(): Promise<DataVersion> {
      return (await storage.get(VERSION))!;
    },
  };
}
export type DataVersionStore = ReturnType<typeof createDataVersionStore>;
