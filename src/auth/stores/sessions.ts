import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Queryable, type Storage } from '../../shared/db/storage.js';
import { newId } from '../../shared/tokens.js';

export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string;
  ip: string | null;
  userAgent: string | null;
}

interface SessionRow {
  id: string;
  user_id: string;
  created_at: string;
  expires_at: string;
  last_used_at: string;
  ip: string | null;
  user_agent: string | null;
}

const toSession = (row: SessionRow): SessionRecord => ({
  id: row.id,
  userId: row.user_id,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastUsedAt: row.last_used_at,
  ip: row.ip,
  userAgent: row.user_agent,
});

/**
 * A session row as the session check reads it: values in this order, unnamed. It runs on every
 * signed-in request, and better-sqlite3 names each column of each row it returns as an object.
 */
type SessionValues = [id: string, userId: string, createdAt: string, expiresAt: string, lastUsedAt: string, ip: string | null, userAgent: string | null];
const SESSION_VALUES = 'id, user_id, created_at, expires_at, last_used_at, ip, user_agent';
const fromValues = (values: SessionValues): SessionRecord => ({
  id: values[0],
  userId: values[1],
  createdAt: values[2],
  expiresAt: values[3],
  lastUsedAt: values[4],
  ip: values[5],
  userAgent: values[6],
});

/** Last-used stamps are written at most this often per session, not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

/** The administration's view of live sessions, through the storage port. */
export const LIVE_SESSIONS = {
  // Walks sessions_list in list order and checks liveness from the index: only returned rows are read.
  page: defineStatement<[now: string, idleCutoff: string, limit: number, offset: number], SessionRow>(
    `SELECT * FROM sessions INDEXED BY sessions_list WHERE expires_at > ? AND last_used_at > ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?`,
  ),
  // Counted on sessions_live: the unexpired sessions' index entries, no row read.
  count: defineStatement<[now: string, idleCutoff: string], { n: number }>(
    `SELECT count(*) AS n FROM sessions INDEXED BY sessions_live WHERE expires_at > ? AND last_used_at > ?`,
  ),
};

type NewSession = { id: string; userId: string; createdAt: string; expiresAt: string; ip: string | null; userAgent: string | null };
const INSERT = defineStatement<NewSession>(
  `INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, ip, user_agent)
     VALUES (@id, @userId, @createdAt, @expiresAt, @createdAt, @ip, @userAgent)`,
);
const UNEXPIRED = defineStatement<[id: string, now: string], SessionValues>(`SELECT ${SESSION_VALUES} FROM sessions WHERE id = ? AND expires_at > ?`, { asArrays: true });
const TOUCH = defineStatement<[now: string, id: string]>(`UPDATE sessions SET last_used_at = ? WHERE id = ?`);
const LIVE_OF_USER = defineStatement<[userId: string, now: string, idleCutoff: string], SessionRow>(
  `SELECT * FROM sessions WHERE user_id = ? AND expires_at > ? AND last_used_at > ? ORDER BY created_at DESC, id`,
);
const REMOVE_ONE = defineStatement<[id: string]>(`DELETE FROM sessions WHERE id = ?`);
const REMOVE_OWNED = defineStatement<[id: string, userId: string]>(`DELETE FROM sessions WHERE id = ? AND user_id = ?`);
const REMOVE_ALL = defineStatement<[userId: string]>(`DELETE FROM sessions WHERE user_id = ?`);
const REMOVE_OTHERS = defineStatement<[userId: string, keepId: string]>(`DELETE FROM sessions WHERE user_id = ? AND id <> ?`);
// The sweep deletes in slices: expired rows, then idled-out ones, each found on its index.
const REMOVE_EXPIRED = defineStatement<[now: string, limit: number]>(`DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions INDEXED BY sessions_live WHERE expires_at <= ? LIMIT ?)`);
const REMOVE_IDLE = defineStatement<[idleCutoff: string, limit: number]>(`DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions INDEXED BY sessions_last_used WHERE last_used_at <= ? LIMIT ?)`);
const REMOVE_IDLE_OF_USER = defineStatement<[userId: string, idleCutoff: string]>(`DELETE FROM sessions WHERE user_id = ? AND last_used_at <= ?`);
const OF_USER = defineStatement<[userId: string], SessionRow>(`SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at, id`);

/**
 * The `sessions` rows that back every JWT: a token is valid only while its row lives. A row
 * lives until its absolute expiry and, when `idleTimeoutMs` > 0, only while it was used
 * within that time; an idled-out row counts as expired and is removed when next seen.
 * Methods a transaction needs take its handle first; left out, they run on their own.
 */
export function createSessionStore(storage: Storage, clock: Clock, idleTimeoutMs = 0) {
  /**
   * Rows last used at or before this instant have idled out. With no timeout it is the
   * empty string, which every ISO time sorts after, so nothing idles out.
   */
  const idleCutoff = (now: number): string => (idleTimeoutMs > 0 ? toIso(now - idleTimeoutMs) : '');

  return {
    async create(q: Queryable, input: { userId: string; ttlMs: number; ip: string | null; userAgent: string | null }): Promise<SessionRecord> {
      const now = clock.now();
      const row = {
        id: newId('ses_'),
        userId: input.userId,
        createdAt: toIso(now),
        expiresAt: toIso(now + input.ttlMs),
        ip: input.ip,
        userAgent: input.userAgent?.slice(0, 512) ?? null,
      };
      await q.run(INSERT, row);
      return { ...row, lastUsedAt: row.createdAt };
    },
    /** The session if it is live; refreshes its last-used stamp, removes it if it idled out. */
    async use(id: string): Promise<SessionRecord | null> {
      const now = clock.now();
      const values = await storage.get(UNEXPIRED, [id, toIso(now)]);
      if (!values) return null;
      const session = fromValues(values);
      if (session.lastUsedAt <= idleCutoff(now)) {
        await storage.run(REMOVE_ONE, [id]);
        return null;
      }
      if (now - Date.parse(session.lastUsedAt) >= TOUCH_INTERVAL_MS) {
        session.lastUsedAt = toIso(now);
        await storage.run(TOUCH, [session.lastUsedAt, id]);
      }
      return session;
    },
    async listLive(userId: string): Promise<SessionRecord[]> {
      const now = clock.now();
      return (await storage.all(LIVE_OF_USER, [userId, toIso(now), idleCutoff(now)])).map(toSession);
    },
    /** Every row of a user, expired ones included: what the GDPR export shows. */
    async listAll(userId: string): Promise<SessionRecord[]> {
      return (await storage.all(OF_USER, [userId])).map(toSession);
    },
    async pageLive(limit: number, offset: number): Promise<{ items: SessionRecord[]; total: number }> {
      const now = clock.now();
      const [at, cutoff] = [toIso(now), idleCutoff(now)];
      const total = (await storage.get(LIVE_SESSIONS.count, [at, cutoff]))!.n;
      return { items: offset >= total ? [] : (await storage.all(LIVE_SESSIONS.page, [at, cutoff, limit, offset])).map(toSession), total };
    },
    async countLive(): Promise<number> {
      const now = clock.now();
      return (await storage.get(LIVE_SESSIONS.count, [toIso(now), idleCutoff(now)]))!.n;
    },
    async revoke(q: Queryable, id: string, userId?: string): Promise<boolean> {
      return (await (userId ? q.run(REMOVE_OWNED, [id, userId]) : q.run(REMOVE_ONE, [id]))).changes === 1;
    },
    async revokeAll(q: Queryable, userId: string): Promise<number> {
      return (await q.run(REMOVE_ALL, [userId])).changes;
    },
    async revokeOthers(q: Queryable, userId: string, keepId: string): Promise<number> {
      return (await q.run(REMOVE_OTHERS, [userId, keepId])).changes;
    },
    /** Removes a user's idled-out rows now rather than at the next sweep. */
    async removeIdle(userId: string): Promise<number> {
      return (await storage.run(REMOVE_IDLE_OF_USER, [userId, idleCutoff(clock.now())])).changes;
    },
    /** Up to `limit` expired or idled-out rows: one slice of the hourly sweep. */
    async purgeExpired(limit: number): Promise<number> {
      const now = clock.now();
      const expired = (await storage.run(REMOVE_EXPIRED, [toIso(now), limit])).changes;
      return expired + (expired < limit ? (await storage.run(REMOVE_IDLE, [idleCutoff(now), limit - expired])).changes : 0);
    },
  };
}
export type SessionStore = ReturnType<typeof createSessionStore>;
