import { parseArgs } from 'node:util';
import { cliConfig, openExistingDatabase, UsageError, type CliCommand } from '../context.js';

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

    const db = openExistingDatabase(cliConfig(io));
    try {
      const rows = db
        .prepare<[number], OutboxLine>(`SELECT id, recipient, subject, status, created_at, body FROM outbox ORDER BY created_at DESC, id DESC LIMIT ?`)
        .all(limit);
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
      // Only read: no checkpoint, so a running server's writes are never held up.
      db.close();
    }
  },
};
