import { defineStatement, type Queryable } from './storage.js';

/**
 * On SQLite the schema's first page: a file removed or corrupted underneath fails it. On
 * PostgreSQL a round trip (on the probe lane when `/health` asks).
 */
const READ_PROBE = defineStatement<void, { n: number }>({
  sqlite: 'SELECT count(*) AS n FROM (SELECT 1 FROM sqlite_master LIMIT 1)',
  postgres: 'SELECT 1 AS n',
});

/** Whether the database can still be read: what `/health` reports. Never rejects. */
export async function databaseReadable(q: Queryable): Promise<boolean> {
  try {
    return (await q.get(READ_PROBE)) !== undefined;
  } catch {
    return false;
  }
}
