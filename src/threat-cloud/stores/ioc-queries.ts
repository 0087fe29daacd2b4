import type { Db } from '../../shared/db/open.js';
import { createIocList, type IocFilter } from './ioc-list.js';

export type { IocFilter };

interface SightingRow {
  id: string;
  value: string;
  source: string;
  context: string | null;
  created_at: string;
}

/**
 * Read side of IoCs: the filtered listing (ioc-list.ts) and sighting history. A sighting
 * page is read in the order of the (IoC, time) index, ties in the order they were stored, and
 * its total is the IoC's own report count (`iocs.sightings` equals its rows in `sightings`),
 * so an IoC reported a million times costs no more than one reported twice.
 */
export function createIocQueries(db: Db) {
  const list = createIocList(db);
  const sightings = db.prepare<[string, number, number], SightingRow>(
    `SELECT s.id, i.value, s.source, s.context, s.created_at FROM sightings s INDEXED BY sightings_ioc JOIN iocs i ON i.id = s.ioc_id
     WHERE s.ioc_id = ? ORDER BY s.created_at DESC, s.rowid LIMIT ? OFFSET ?`,
  );
  const countSightings = db.prepare<[string], { n: number }>(`SELECT sightings AS n FROM iocs WHERE id = ?`);

  return {
    list: list.list,

    sightings(iocId: string, page: number, limit: number) {
      return {
        total: countSightings.get(iocId)?.n ?? 0,
        items: sightings.all(iocId, limit, (page - 1) * limit).map((row) => ({
          id: row.id,
          value: row.value,
          source: row.source,
          context: row.context === null ? null : (JSON.parse(row.context) as Record<string, unknown>),
          timestamp: row.created_at,
        })),
      };
    },
  };
}
export type IocQueries = ReturnType<typeof createIocQueries>;
