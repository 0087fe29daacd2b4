import { defineStatement, type Storage } from '../../shared/db/storage.js';

export interface StreamRow {
  id: number;
  event: string;
  data: string;
}

/** How many past stream events are kept for Last-Event-ID replay. */
export const STREAM_REPLAY_SIZE = 1000;

/**
 * Appends and the read of the last id take this lock: on PostgreSQL each append draws its id
 * inside a transaction of its own, so without it appends from several replicas could commit
 * out of id order (a client resuming from the higher id would never get the lower one), and a
 * joining client could start after an id not yet committed. SQLite's one writer already orders them.
 */
const STREAM_LOCK = 'manager:stream';
/** Told at each commit of an append, in commit order, to every replica listening (PostgreSQL). */
const STREAM_CHANNEL = 'panguard_stream';

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
const NOTIFY = defineStatement<void, { sent: string }>({
  sqlite: "SELECT '' AS sent",
  postgres: `SELECT CAST(pg_notify('${STREAM_CHANNEL}', '') AS text) AS sent`,
});

/** The persisted tail of the live stream: ids never go back, also after a restart. */
export function createStreamStore(storage: Storage) {
  const { listen } = storage;
  return {
    append: (event: string, data: string, createdAt: string): Promise<number> =>
      storage.transaction({ durable: false, locks: [STREAM_LOCK] }, async (tx) => {
        const { id } = (await tx.get(APPEND, [event, data, createdAt]))!;
        if (id > STREAM_REPLAY_SIZE) await tx.run(TRIM, [id - STREAM_REPLAY_SIZE]);
        if (listen) await tx.get(NOTIFY);
        return id;
      }),
    after: (id: number) => storage.all(AFTER, [id, STREAM_REPLAY_SIZE]),
    lastId: () => storage.transaction({ durable: false, locks: [STREAM_LOCK] }, async (tx) => (await tx.get(LAST_ID))!.id),
    /**
     * Where other replicas' appends are learnt of (PostgreSQL): `onAppended` runs after any
     * process commits an append; absent on SQLite, where this process makes every append.
     */
    listen: listen ? (onAppended: () => void) => listen.call(storage, STREAM_CHANNEL, onAppended) : undefined,
  };
}

export type StreamStore = ReturnType<typeof createStreamStore>;
