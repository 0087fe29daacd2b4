import type { Db } from '../../shared/db/open.js';

export interface StreamRow {
  id: number;
  event: string;
  data: string;
}

/** How many past stream events are kept for Last-Event-ID replay. */
export const STREAM_REPLAY_SIZE = 1000;

/** The persisted tail of the live stream: AUTOINCREMENT ids never go back, also after a restart. */
export function createStreamStore(db: Db) {
  const append = db.prepare<[string, string, string], { id: number }>(
    'INSERT INTO stream_events (event, data, created_at) VALUES (?, ?, ?) RETURNING id',
  );
  const trim = db.prepare<[number]>('DELETE FROM stream_events WHERE id <= ?');
  const after = db.prepare<[number, number], StreamRow>('SELECT id, event, data FROM stream_events WHERE id > ? ORDER BY id LIMIT ?');
  const lastId = db.prepare<[], { id: number }>("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'stream_events'), 0) AS id");
  const appendAndTrim = db.transaction((event: string, data: string, createdAt: string) => {
    const { id } = append.get(event, data, createdAt)!;
    if (id > STREAM_REPLAY_SIZE) trim.run(id - STREAM_REPLAY_SIZE);
    return id;
  });
  return {
    append: (event: string, data: string, createdAt: string): number => appendAndTrim(event, data, createdAt),
    after: (id: number) => after.all(id, STREAM_REPLAY_SIZE),
    lastId: () => lastId.get()!.id,
  };
}

export type StreamStore = ReturnType<typeof createStreamStore>;
