import { defineStatement, type Storage } from './storage.js';

/**
 * On SQLite the schema's first page: a file removed or corrupted underneath fails it. On
 * PostgreSQL a round trip on a pooled connection.
 */
const READ_PROBE = defineStatement<void, { n: number }>({
  sqlite: 'SELECT count(*) AS n FROM (SELECT 1 FROM sqlite_master LIMIT 1)',
  postgres: 'SELECT 1 AS n',
});

/** Whether the database can still be read: what `/health` reports. Never rejects. */
export async function databaseReadable(storage: Storage): Promise<boolean> {
  try {
    return (await storage.get(READ_PROBE)) !== undefined;
  } catch {
    return false;
  }
}
