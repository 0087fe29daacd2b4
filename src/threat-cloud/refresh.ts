import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../shared/clock.js';
import { toIso } from '../shared/clock.js';
import type { Db } from '../shared/db/open.js';
import { DAY_MS, DEFAULT_THRESHOLD, EXPIRY_DAYS, REPUTATION_SQL } from './reputation.js';

/** Rows per refresh step: one step blocks the event loop for a few milliseconds only. */
export const REFRESH_CHUNK = 20_000;
export const REFRESH_INTERVAL_MS = 60 * 60 * 1000;

export interface RefreshResult {
  expired: number;
  crossed: number;
  rescored: number;
}

const julianDay = (epochMs: number) => epochMs / DAY_MS + 2440587.5;

/**
 * Decay refresh, entirely in SQL, over rowid ranges so a million-row table is handled in
 * short steps that let requests through in between:
 * 1. active IoCs without a sighting for 90 days become `expired` (new change-sequence positions);
 * 2. IoCs whose decayed reputation crosses the default threshold get the new score and a new
 *    position, so incremental consumers learn they left (or joined) the blocklist;
 * 3. every other changed score is updated in place, without entering the change sequence.
 */
export function createReputationRefresh(db: Db, clock: Clock) {
  const bounds = db.prepare<[], { lo: number | null; hi: number | null }>(`SELECT min(rowid) AS lo, max(rowid) AS hi FROM iocs`);
  const seqValue = db.prepare<[], { value: number }>(`SELECT value FROM tc_state WHERE name = 'seq'`);
  const bumpSeq = db.prepare<[number, string]>(`UPDATE tc_state SET value = value + ?, updated_at = ? WHERE name = 'seq'`);
  const bumpRefresh = db.prepare<[string]>(`UPDATE tc_state SET value = value + 1, updated_at = ? WHERE name = 'refresh'`);
  const expire = db.prepare(
    `UPDATE iocs SET status = 'expired', updated_at = @nowIso, change_seq = @base + r.rn
     FROM (SELECT rowid AS rid, row_number() OVER (ORDER BY rowid) AS rn FROM iocs
           WHERE rowid BETWEEN @lo AND @hi AND status = 'active' AND last_seen < @cutoff) AS r
     WHERE iocs.rowid = r.rid`,
  );
  const cross = db.prepare(
    `UPDATE iocs SET reputation = r.score, updated_at = @nowIso, change_seq = @base + r.rn
     FROM (SELECT rid, score, row_number() OVER (ORDER BY rid) AS rn FROM (
             SELECT rowid AS rid, reputation AS old, ${REPUTATION_SQL} AS score FROM iocs
             WHERE rowid BETWEEN @lo AND @hi AND status = 'active')
           WHERE (old <= ${DEFAULT_THRESHOLD}) <> (score <= ${DEFAULT_THRESHOLD})) AS r
     WHERE iocs.rowid = r.rid`,
  );
  const rescore = db.prepare(
    `UPDATE iocs SET reputation = ${REPUTATION_SQL}
     WHERE rowid BETWEEN @lo AND @hi AND status IN ('active', 'revoked', 'expired') AND reputation <> ${REPUTATION_SQL}`,
  );

  const step = db.transaction((lo: number, hi: number, now: number): RefreshResult => {
    const nowIso = toIso(now);
    const params = { lo, hi, now: julianDay(now), nowIso, cutoff: toIso(now - EXPIRY_DAYS * DAY_MS) };
    const expired = expire.run({ ...params, base: seqValue.get()!.value }).changes;
    if (expired > 0) bumpSeq.run(expired, nowIso);
    const crossed = cross.run({ ...params, base: seqValue.get()!.value }).changes;
    if (crossed > 0) bumpSeq.run(crossed, nowIso);
    const rescored = rescore.run(params).changes;
    return { expired, crossed, rescored };
  });

  return {
    /** Runs the whole table, yielding to the event loop between chunks. */
    async run(): Promise<RefreshResult> {
      const total: RefreshResult = { expired: 0, crossed: 0, rescored: 0 };
      const { lo, hi } = bounds.get()!;
      if (lo === null || hi === null) return total;
      const now = clock.now();
      for (let start = lo; start <= hi; start += REFRESH_CHUNK) {
        if (!db.open) break;
        const result = step(start, start + REFRESH_CHUNK - 1, now);
        total.expired += result.expired;
        total.crossed += result.crossed;
        total.rescored += result.rescored;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (db.open && total.expired + total.crossed + total.rescored > 0) bumpRefresh.run(toIso(now));
      return total;
    },
  };
}

/** Starts the hourly refresh on an unref'd timer; the returned function stops it. */
export function scheduleRefresh(refresh: ReturnType<typeof createReputationRefresh>, logger: FastifyBaseLogger, intervalMs = REFRESH_INTERVAL_MS) {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = refresh
      .run()
      .then((result) => logger.debug({ ...result }, 'reputation refresh done'))
      .catch((error: unknown) => logger.error({ err: error }, 'reputation refresh failed'))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
