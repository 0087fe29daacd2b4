import { defineStatement, type Storage } from '../../shared/db/storage.js';
import { createIocList, type IocFilter } from './ioc-list.js';

export type { IocFilter };

interface SightingRow {
  id: string;
  value: string;
  source: string;
  context: string | null;
  created_at: string;
}

/** A sighting page and its total (the IoC's own report count), through the storage port. */
export const SIGHTING_READS = {
  page: defineStatement<[iocId: string, limit: number, offset: number], SightingRow>(
    `SELECT s.id, i.value, s.source, s.context, s.created_at FROM sightings s INDEXED BY sightings_ioc JOIN iocs i ON i.id = s.ioc_id
     WHERE s.ioc_id = ? ORDER BY s.created_at DESC, s.rowid LIMIT ? OFFSET ?`,
  ),
  count: defineStatement<[iocId: string], { n: number }>(`SELECT sightings AS n FROM iocs WHERE id = ?`),
};

/**
 * Read side of IoCs: the filtered listing (ioc-list.ts) and sighting history. A sighting
 * page is read in the order of the (IoC, time) index, ties in the order they were stored, and
 * its total is the IoC's own report count (`iocs.sightings` equals its rows in `sightings`),
 * so an IoC reported a million times costs no more than one reported twice.
 */
export function createIocQueries(storage: Storage) {
  const list = createIocList(storage);

  return {
    list: list.list,

    async sightings(iocId: string, page: number, limit: number) {
      const total = (await storage.get(SIGHTING_READS.count, [iocId]))?.n ?? 0;
      const rows = await storage.all(SIGHTING_READS.page, [iocId, limit, (page - 1) * limit]);
      return {
        total,
        items: rows.map((row) => ({
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
