import { toIso } from '../../../src/shared/clock.js';
import type { Db } from '../../../src/shared/db/open.js';
import { seedIoc } from '../../seed.js';
import { DAY, HOUR } from './helper.js';

/** What a busy day holds, newest IoCs first (see busyDay). */
export interface BusyDay {
  /** New IoCs with one report each, newer than every other new IoC: the walk passes them first. */
  quietNewer: number;
  /** New IoCs with as many reports (two) as the thousands of old ones: the level the walk fills. */
  members: number;
}

/**
 * A day on which more IoCs were reported than the trends look up one by one: 2,100 old IoCs
 * with two reports each, five new ones with five, `members` new ones with two (two of them
 * first seen at the same instant), and `quietNewer` newer ones with one. The emerging threats
 * then need the members of the two-report level, found newest first behind the quiet ones.
 */
export function busyDay(db: Db, now: number, day: BusyDay): void {
  let seq = 0;
  let report = 0;
  const addReports = db.prepare(
    `INSERT INTO sightings (id, ioc_id, kind, source, reporter_id, created_at) VALUES (?, ?, 'sighting', 'test', 'key:1', ?)`,
  );
  const ioc = (value: string, firstSeenMs: number, reports: number) => {
    seq += 1;
    const { id } = seedIoc(db, { id: `ioc_${seq}`, type: value.endsWith('.example') ? 'domain' : 'ip', value, reputation: 20, changeSeq: seq, at: toIso(firstSeenMs) });
    for (let i = 0; i < reports; i += 1) addReports.run(`sig_${(report += 1)}`, id, toIso(now - HOUR + report));
  };
  db.transaction(() => {
    for (let i = 0; i < 2100; i += 1) ioc(`10.${i >> 8}.${i & 255}.1`, now - 10 * DAY, 2);
    for (let i = 0; i < 5; i += 1) ioc(`hot-${i}.example`, now - 20 * HOUR + i * 1000, 5);
    for (let i = 0; i < day.members; i += 1) ioc(`member-${i}.example`, now - 10 * HOUR + Math.max(i - 1, 0) * 1000, 2);
    for (let i = 0; i < day.quietNewer; i += 1) ioc(`quiet-${i}.example`, now - 5 * HOUR + i * 10, 1);
  })();
}
