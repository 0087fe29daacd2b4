import { newReplicaName } from '../../shared/replica-name.js';
import type { Redis } from 'ioredis';

/** The one Redis hash every replica reports its open streams in: field = replica, value = "count:validUntilMs". */
const CENSUS_KEY = 'panguard:sse:streams';
/** A replica re-reports this often; an entry not renewed for three times as long belongs to a replica that is gone. */
const REPORT_INTERVAL_MS = 10_000;
const ENTRY_LIFETIME_MS = 3 * REPORT_INTERVAL_MS;

/**
 * How many event streams all replicas hold together, so the cap on live streams is one cap for
 * the deployment, not one per replica. A replica that dies stops renewing its entry, which is
 * then ignored and removed. Redis times are wall-clock milliseconds: entries compare across
 * processes. If Redis cannot answer, `total` is null and the replica judges by its own count.
 */
export function createStreamCensus(redis: Redis, replica = newReplicaName()) {
  let open = 0;
  let timer: NodeJS.Timeout | null = null;
  const report = () => {
    redis.hset(CENSUS_KEY, replica, `${open}:${Date.now() + ENTRY_LIFETIME_MS}`).catch(() => {});
  };
  return {
    /** This replica now holds `count` streams. */
    set(count: number): void {
      open = count;
      report();
    },
    /** Streams held by every live replica, this one's current count included; null without Redis. */
    async total(): Promise<number | null> {
      let entries: Record<string, string>;
      try {
        entries = await redis.hgetall(CENSUS_KEY);
      } catch {
        return null;
      }
      const now = Date.now();
      let sum = open;
      const gone: string[] = [];
      for (const [field, value] of Object.entries(entries)) {
        if (field === replica) continue;
        const [count = 0, validUntil = 0] = value.split(':').map(Number);
        if (validUntil > now) sum += count || 0;
        else gone.push(field);
      }
      if (gone.length > 0) redis.hdel(CENSUS_KEY, ...gone).catch(() => {});
      return sum;
    },
    start(): void {
      if (timer) return;
      report();
      timer = setInterval(report, REPORT_INTERVAL_MS);
      timer.unref();
    },
    /** This replica leaves the census: its streams are closed. */
    stop(): void {
      if (timer) clearInterval(timer);
      timer = null;
      redis.hdel(CENSUS_KEY, replica).catch(() => {});
    },
  };
}

export type StreamCensus = ReturnType<typeof createStreamCensus>;
