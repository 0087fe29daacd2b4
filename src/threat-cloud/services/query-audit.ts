import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { MINUTE_MS } from '../../shared/time.js';
import { QUERY_SAMPLES, type AuditEntry, type AuditStore, type QueryAggregate, type QueryKind } from '../stores/audit.js';

/** How long a sample may be. */
const SAMPLE_CHARS = 200;

/** The kind of a read, from the resource its route names (`feeds/stix`, `ip-blocklist`, `campaign`, `query/geo`…). */
export function queryKind(resource: string): QueryKind {
  const head = resource.split('/', 1)[0]!;
  if (head === 'ioc' || head === 'iocs') return 'iocs';
  if (head === 'campaign' || head === 'campaigns') return 'campaigns';
  if (head === 'feeds' || head.endsWith('-blocklist')) return 'feeds';
  if (head === 'sightings' || head === 'stats') return head;
  // Analytics, and any read a route adds later: the sample still names its resource.
  return 'query';
}

/** What was asked, readable and bounded: `ioc?type=ip&value=198.51.100.1&found=true`. */
export function querySample(resource: string, details: Record<string, unknown> = {}): string {
  const asked = Object.entries(details)
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([name, value]) => `${name}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join('&');
  const sample = asked === '' ? resource : `${resource}?${asked}`;
  return sample.length > SAMPLE_CHARS ? `${sample.slice(0, SAMPLE_CHARS - 1)}…` : sample;
}

/** The id of an actor's entry for one kind and minute, from `minute\nkind\nactor`. */
function aggregateId(minuteKindActor: string): string {
  return `audit_${createHash('sha256').update(minuteKindActor).digest('hex').slice(0, 32)}`;
}

/** Open aggregates at most between two flushes; a flood of distinct actors flushes early. */
export const MAX_OPEN_AGGREGATES = 250;

/**
 * Reads are audited without a write per request: they add to one `query` entry per actor
 * (the masked key, or the client IP of an anonymous read), kind and UTC minute, which is
 * written at least every second (unref'd timer), when MAX_OPEN_AGGREGATES are open, and when
 * the app closes. A flush adds to the entry an earlier flush of the same minute wrote.
 */
export function createQueryAuditBuffer(
  audit: AuditStore,
  clock: Clock,
  logger: FastifyBaseLogger,
  options: { flushMs?: number; maxOpen?: number } = {},
) {
  const { flushMs = 1000, maxOpen = MAX_OPEN_AGGREGATES } = options;
  let pending = new Map<string, QueryAggregate>();
  let reads = 0;
  let timer: NodeJS.Timeout | null = null;
  // The minute's text is made once per minute, not once per read.
  let minuteNumber = -1;
  let minuteText = '';
  const minuteOf = (now: number): string => {
    const number = Math.floor(now / MINUTE_MS);
    if (number !== minuteNumber) {
      minuteNumber = number;
      minuteText = toIso(number * MINUTE_MS);
    }
    return minuteText;
  };

  /** Writes what is pending; never rejects (a failed write is logged: the reads it counted are lost). */
  const flush = async (): Promise<void> => {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    reads = 0;
    try {
      await audit.addQueryAggregates(batch.values());
    } catch (error) {
      logger.error({ err: error, entries: batch.size }, 'could not write query audit entries');
    }
  };

  return {
    push(entry: Omit<AuditEntry, 'action'>): void {
      const kind = queryKind(entry.resource);
      const minute = minuteOf(clock.now());
      const actor = entry.apiKey !== null ? `key:${entry.apiKey}` : `ip:${entry.ip ?? ''}`;
      // Keyed by the plain text the id is hashed from: the hash is paid once per aggregate,
      // not once per read.
      const key = `${minute}\n${kind}\n${actor}`;
      let aggregate = pending.get(key);
      if (!aggregate) {
        // Not awaited: the read goes on; flush takes the open aggregates at once and never rejects.
        if (pending.size >= maxOpen) void flush();
        aggregate = { id: aggregateId(key), kind, minute, apiKey: entry.apiKey, ip: entry.ip, count: 0, samples: [], ips: [] };
        pending.set(key, aggregate);
      }
      aggregate.count += 1;
      reads += 1;
      if (aggregate.samples.length < QUERY_SAMPLES) {
        const sample = querySample(entry.resource, entry.details);
        if (!aggregate.samples.includes(sample)) aggregate.samples.push(sample);
      }
      if (entry.ip !== null && aggregate.ips.length < QUERY_SAMPLES && !aggregate.ips.includes(entry.ip)) aggregate.ips.push(entry.ip);
    },
    flush,
    start(): void {
      timer ??= setInterval(() => void flush(), flushMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = null;
      await flush();
    },
    /** Reads not yet written. */
    get pendingCount(): number {
      return reads;
    },
  };
}
export type QueryAuditBuffer = ReturnType<typeof createQueryAuditBuffer>;
