import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { sqliteStorageOf } from '../../shared/db/sqlite-storage.js';
import { defineStatement } from '../../shared/db/storage.js';
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

/**
 * The `sessions` rows that back every JWT: a token is valid only while its row lives. A row
 * lives until its absolute expiry and, when `idleTimeoutMs` > 0, only while it was used
 * within that time; an idled-out row counts as expired and is removed when next seen.
 */
export function createSessionStore(db: Db, clock: Clock, idleTimeoutMs = 0) {
  const insert = db.prepare(
    `INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, ip, user_agent)
     VALUES (@id, @userId, @createdAt, @expiresAt, @createdAt, @ip, @userAgent)`,
  );
  const unexpired = db.prepare<[string, string], SessionRow>(`SELECT * FROM sessions WHERE id = ? AND expires_at > ?`);
  const touch = db.prepare(`UPDATE sessions SET last_used_at = ? WHERE id = ?`);
  const liveOfUser = db.prepare<[string, string, string], SessionRow>(
    `SELECT * FROM sessions WHERE user_id = ? AND expires_at > ? AND last_used_at > ? ORDER BY created_at DESC, id`,
  );
  const storage = sqliteStorageOf(db);
  const removeOne = db.prepare(`DELETE FROM sessions WHERE id = ?`);
  const removeOwned = db.prepare(`DELETE FROM sessions WHERE id = ? AND user_id = ?`);
  const removeAll = db.prepare(`DELETE FROM sessions WHERE user_id = ?`);
  const removeOthers = db.prepare(`DELETE FROM sessions WHERE user_id = ? AND id <> ?`);
  // The sweep deletes in slices: expired rows, then idled-out ones, each found on its index.
  const removeExpired = db.prepare<[string, number]>(`DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions INDEXED BY sessions_live WHERE expires_at <= ? LIMIT ?)`);
  const removeIdle = db.prepare<[string, number]>(`DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions INDEXED BY sessions_last_used WHERE last_used_at <= ? LIMIT ?)`);
  const removeIdleOfUser = db.prepare(`DELETE FROM sessions WHERE user_id = ? AND last_used_at <= ?`);
  const ofUser = db.prepare<[string], SessionRow>(`SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at, id`);

  /**
   * Rows last used at or before this instant have idled out. With no timeout it is the
   * empty string, which every ISO time sorts after, so nothing idles out.
   */
  const idleCutoff = (now: number): string => (idleTimeoutMs > 0 ? toIso(now - idleTimeoutMs) : '');

  return {
    create(input: { userId: string; ttlMs: number; ip: string | null; userAgent: string | null }): SessionRecord {
      const now = clock.now();
      const row = {
        id: newId('ses_'),
        userId: input.userId,
        createdAt: toIso(now),
        expiresAt: toIso(now + input.ttlMs),
        ip: input.ip,
        userAgent: input.userAgent?.slice(0, 512) ?? null,
      };
      insert.run(row);
      return { ...row, lastUsedAt: row.createdAt };
    },
    /** The session if it is live; refreshes its last-used stamp, removes it if it idled out. */
    use(id: string): SessionRecord | null {
      const now = clock.now();
      const row = unexpired.get(id, toIso(now));
      if (!row) return null;
      if (row.last_used_at <= idleCutoff(now)) {
        removeOne.run(id);
        return null;
      }
      if (now - Date.parse(row.last_used_at) >= TOUCH_INTERVAL_MS) {
        row.last_used_at = toIso(now);
        touch.run(row.last_used_at, id);
      }
      return toSession(row);
    },
    listLive(userId: string): SessionRecord[] {
      const now = clock.now();
      return liveOfUser.all(userId, toIso(now), idleCutoff(now)).map(toSession);
    },
    /** Every row of a user, expired ones included: what the GDPR export shows. */
    listAll(userId: string): SessionRecord[] {
      return ofUser.all(userId).map(toSession);
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
    revoke(id: string, userId?: string): boolean {
      return (userId ? removeOwned.run(id, userId) : removeOne.run(id)).changes === 1;
    },
    revokeAll(userId: string): number {
      return removeAll.run(userId).changes;
    },
    revokeOthers(userId: string, keepId: string): number {
      return removeOthers.run(userId, keepId).changes;
    },
    /** Removes a user's idled-out rows now rather than at the next sweep. */
    removeIdle(userId: string): number {
      return removeIdleOfUser.run(userId, idleCutoff(clock.now())).changes;
    },
    /** Up to `limit` expired or idled-out rows: one slice of the hourly sweep. */
    purgeExpired(limit: number): number {
      const now = clock.now();
      const expired = removeExpired.run(toIso(now), limit).changes;
      return expired + (expired < limit ? removeIdle.run(idleCutoff(now), limit - expired).changes : 0);
    },
  };
}
export type SessionStore = ReturnType<typeof createSessionStore>;
