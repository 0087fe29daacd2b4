import { defineStatement, type Storage } from '../../shared/db/storage.js';

export interface StreamRow {
  id: number;
  event: string;
  data: string;
}

/** How many past stream events are kept for Last-Event-ID replay. */
export const STREAM_REPLAY_SIZE = 1000;

const APPEND = defineStatement<[event: string, data: string, createdAt: string], { id: number }>(
  'INSERT INTO stream_events (event, data, created_at) VALUES (?, ?, ?) RETURNING id',
);
const TRIM = defineStatement<[throughId: number]>('DELETE FROM stream_events WHERE id <= ?');
const AFTER = defineStatement<[afterId: number, limit: number], StreamRow>('SELECT id, event, data FROM stream_events WHERE id > ? ORDER BY id LIMIT ?');
// The last id handed out, also when its row was trimmed: the sequence, not the table.
const LAST_ID = defineStatement<void, { id: number }>({
  sqlite: "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'stream_events'), 0) AS id",
  postgres: 'SELECT COALESCE((SELECT last_value FROM stream_events_id_seq WHERE is_called), 0) AS id',
});

/** The persisted tail of the live stream: AUTOINCREMENT ids never go back, also after a restart. */
export function createStreamStore(storage: Storage) {
  return {
    append: (event: string, data: string, createdAt: string): Promise<number> =>
      storage.transaction({ durable: false }, async (tx) => {
        const { id } = (await tx.get(APPEND, [event, data, createdAt]))!;
        if (id > STREAM_REPLAY_SIZE) await tx.run(TRIM, [id - STREAM_REPLAY_SIZE]);
        return id;
      }),
    after: (id: number) => storage.all(AFTER, [id, STREAM_REPLAY_SIZE]),
    lastId: async () => (await storage.get(LAST_ID))!.id,
  };
}

export type StreamStore = ReturnType<typeof createStreamStore>;
