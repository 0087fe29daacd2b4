import type { Statement } from 'better-sqlite3';
import type { Db } from '../shared/db/open.js';
import { toIoc, type Category, type Ioc, type IocRow, type IocStatus } from './ioc-store.js';
import type { IocType } from './normalise.js';

export interface IocFilter {
  type?: IocType;
  source?: string;
  category?: Category;
  status?: IocStatus;
  minReputation?: number;
  maxReputation?: number;
  since?: string;
  q?: string;
}

const CONDITIONS: Record<keyof IocFilter, string> = {
  type: 'type = @type',
  source: 'id IN (SELECT ioc_id FROM ioc_sources WHERE source = @source)',
  category: 'category = @category',
  status: 'status = @status',
  minReputation: 'reputation >= @minReputation',
  maxReputation: 'reputation <= @maxReputation',
  since: 'updated_at > @since',
  q: 'value >= @q AND value < @qEnd',
};
const FILTER_KEYS = Object.keys(CONDITIONS) as Array<keyof IocFilter>;

/** The smallest string greater than every string starting with `prefix`. */
function prefixEnd(prefix: string): string {
  const last = prefix.codePointAt(prefix.length - 1)!;
  const head = prefix.slice(0, prefix.length - (last > 0xffff ? 2 : 1));
  return head + String.fromCodePoint(Math.min(last + 1, 0x10ffff));
}

interface SightingRow {
  id: string;
  value: string;
  source: string;
  context: string | null;
  created_at: string;
}

/**
 * Read side of IoCs: the filtered listing and sighting history. Each combination of
 * filters gets its own statement (so SQLite can pick an index for it), prepared the first
 * time it is used and kept for the life of the app.
 */
export function createIocQueries(db: Db) {
  const listStatements = new Map<string, { rows: Statement<Record<string, unknown>, IocRow>; count: Statement<Record<string, unknown>, { n: number }> }>();
  const sightings = db.prepare<[string, number, number], SightingRow>(
    `SELECT s.id, i.value, s.source, s.context, s.created_at FROM sightings s JOIN iocs i ON i.id = s.ioc_id
     WHERE s.ioc_id = ? ORDER BY s.created_at DESC, s.id DESC LIMIT ? OFFSET ?`,
  );
  const countSightings = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM sightings WHERE ioc_id = ?`);

  function statementsFor(filter: IocFilter) {
    const used = FILTER_KEYS.filter((key) => filter[key] !== undefined);
    const signature = used.join(',');
    let statements = listStatements.get(signature);
    if (!statements) {
      const where = used.length > 0 ? `WHERE ${used.map((key) => CONDITIONS[key]).join(' AND ')}` : '';
      statements = {
        rows: db.prepare(`SELECT * FROM iocs ${where} ORDER BY reputation, last_seen DESC, id LIMIT @limit OFFSET @offset`),
        count: db.prepare(`SELECT count(*) AS n FROM iocs ${where}`),
      };
      listStatements.set(signature, statements);
    }
    return statements;
  }

  return {
    list(filter: IocFilter, page: number, limit: number): { items: Ioc[]; total: number } {
      const params: Record<string, unknown> = {};
      for (const key of FILTER_KEYS) if (filter[key] !== undefined) params[key] = filter[key];
      if (filter.q !== undefined) params.qEnd = prefixEnd(filter.q);
      const statements = statementsFor(filter);
      return {
        total: statements.count.get(params)!.n,
        items: statements.rows.all({ ...params, limit, offset: (page - 1) * limit }).map(toIoc),
      };
    },

    sightings(iocId: string, page: number, limit: number) {
      return {
        total: countSightings.get(iocId)!.n,
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
