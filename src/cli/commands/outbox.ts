import { parseArgs } from 'node:util';
import { createSqliteStorage } from '../../shared/db/sqlite-storage.js';
import { defineStatement, type Storage } from '../../shared/db/storage.js';
import { cliConfig, openExistingDatabase, openMigratedStorage, UsageError, type CliCommand, type CliIo } from '../context.js';

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1000;

interface OutboxLine {
  id: string;
  recipient: string;
  subject: string;
  status: string;
  created_at: string;
  body: string;
}

const NEWEST = defineStatement<[number], OutboxLine>(`SELECT id, recipient, subject, status, created_at, body FROM outbox ORDER BY created_at DESC, id DESC LIMIT ?`);

/**
 * The server's database, only to read: on SQLite the existing file (none is created, and it
 * closes without a checkpoint, so a running server's writes are never held up); on PostgreSQL
 * the configured database, brought to this build's schema as the server would.
 */
async function openForReading(io: CliIo): Promise<{ storage: Storage; close(): Promise<void> }> {
  const config = cliConfig(io);
  if (config.database.url !== undefined) {
    const storage = await openMigratedStorage(config);
    return { storage, close: () => storage.close() };
  }
  const db = openExistingDatabase(config);
  return {
    storage: createSqliteStorage(db),
    close: async () => {
      db.close();
    },
  };
}

export const outboxCommand: CliCommand = {
  name: 'outbox',
  summary: 'show the newest Auth mails (the delivery itself when no SMTP is configured, e.g. reset links)',
  usage: `panguard outbox [--limit <1-${MAX_LIMIT}, default ${DEFAULT_LIMIT}>]`,
  async run(args, io) {
    let values: { limit?: string };
    try {
      ({ values } = parseArgs({ args, options: { limit: { type: 'string' } }, strict: true, allowPositionals: false }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const limit = values.limit === undefined ? DEFAULT_LIMIT : /^\d+$/.test(values.limit) ? Number(values.limit) : Number.NaN;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIMIT}`);

    const database = await openForReading(io);
    try {
      const rows = await database.storage.all(NEWEST, [limit]);
      if (rows.length === 0) {
        io.out('(the outbox is empty)');
        return;
      }
      // Newest first; a sent message's body was dropped on delivery, so only its headers remain.
      for (const row of rows) {
        io.out(`${row.created_at}  ${row.status}  ${row.recipient}  ${row.subject}  (${row.id})`);
        const body = row.body === '' ? '(body removed after delivery)' : row.body;
        for (const line of body.split('\n')) io.out(`    ${line}`);
        io.out('');
      }
    } finally {
      await database.close();
    }
  },
};
