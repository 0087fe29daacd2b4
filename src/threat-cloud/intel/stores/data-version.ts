import type { Db } from '../../../shared/db/open.js';

/** What the aggregates read has changed when any of these moved. */
export interface DataVersion {
  /** The newest report (sightings rowid). */
  reports: number | null;
  /** The change sequence (new IoCs, status changes). */
  seq: number | null;
  /** The correlation watermark. */
  correlated: number | null;
}

/** One cheap read (indexed max and two state rows) that tells whether the intel data changed. */
export function createDataVersionStore(db: Db) {
  const version = db.prepare<[], DataVersion>(
    `SELECT (SELECT max(rowid) FROM sightings) AS reports,
            (SELECT value FROM tc_state WHERE name = 'seq') AS seq,
            (SELECT value FROM intel_state WHERE name = 'correlated_sighting') AS correlated`,
  );
  return {
    read(): DataVersion {
      return version.get()!;
    },
  };
}
export type DataVersionStore = ReturnType<typeof createDataVersionStore>;
