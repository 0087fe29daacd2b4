import type { Readable } from 'node:stream';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { badRequest } from '../../shared/errors.js';
import { panguardIdentity, stixBundleId, stixSourceOf, toStixIndicators, type StixIndicator } from '../stix.js';
import type { IocFeedQuery } from '../schemas.js';
import type { AuditActor } from '../stores/audit.js';
import { blocklistStream, decodeCursor, encodeCursor, feedEtag, type BlocklistFilter, type ChangeRow, type FeedStore } from '../stores/feeds.js';
import type { IocStore } from '../stores/iocs.js';
import type { QueryAuditBuffer } from './query-audit.js';

/** Rows of a JSON feed page read between two turns of the event loop. */
const FEED_READ_CHUNK = 500;

/** Whether a changed IoC is on a list with this threshold (removed from it otherwise). */
export function isListed(row: Pick<ChangeRow, 'status' | 'reputation'>, maxReputation: number | undefined): boolean {
  return row.status === 'active' && (maxReputation === undefined || row.reputation <= maxReputation);
}

/** The feeds: text blocklists, the incremental JSON feed and the STIX bundle, with their cache validators. */
export function createFeedService(deps: { feeds: FeedStore; iocs: IocStore; clock: Clock; queryAudit: QueryAuditBuffer }) {
  const { feeds, iocs, clock, queryAudit } = deps;

  /** Where a page of the change sequence starts, as the JSON and STIX feeds share it. */
  async function pageStart(query: IocFeedQuery): Promise<number> {
    if (query.cursor !== undefined) {
      const decoded = decodeCursor(query.cursor);
      if (decoded === null) throw badRequest('cursor is invalid');
      return decoded;
    }
    return query.since !== undefined ? feeds.positionBefore(query.since) : 0;
  }

  /**
   * One page of the change sequence, read in chunks with the event loop free between them: a
   * 5,000-row page at a million IoCs held it ~100 ms in one piece. Chunks continue after the
   * last position read, so the page is the same run of the sequence either way.
   */
  async function changePage(query: IocFeedQuery) {
    const start = await pageStart(query);
    const rows: ChangeRow[] = [];
    const chunks = feeds.changesBetween(start, Number.MAX_SAFE_INTEGER, query.type ?? null, { chunk: FEED_READ_CHUNK, max: query.limit ?? 1000 });
    for await (const chunk of chunks) {
      rows.push(...chunk);
      // The generator's own awaits are microtasks: only a macrotask lets other requests in.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const nextCursor = encodeCursor(rows.length > 0 ? rows[rows.length - 1]!.change_seq : start);
    return { rows, nextCursor };
  }

  return {
    /** Every feed read is audited as `query`, a 304 included. */
    recordRead(resource: string, details: Record<string, unknown>, actor: AuditActor): void {
      queryAudit.push({ resource, details, ...actor });
    },

    /** ETag and Last-Modified of a feed: they change with the change sequence, a refresh, or the query. */
    async validators(kind: string, query: unknown): Promise<{ etag: string; lastModified: Date }> {
      const seq = await iocs.state('seq');
      const refresh = await iocs.state('refresh');
      const stamps = [seq.updatedAt, refresh.updatedAt].filter((stamp): stamp is string => stamp !== null).map(Date.parse);
      return { etag: feedEtag(kind, seq.value, refresh.value, query), lastModified: new Date(stamps.length > 0 ? Math.max(...stamps) : 0) };
    },

    /** A text blocklist, streamed: the body is never held in memory. */
    blocklist(filter: BlocklistFilter, labels: { title: string; noun: string }): Promise<Readable> {
      return blocklistStream(feeds, filter, { ...labels, generatedAt: toIso(clock.now()) });
    },

    async iocFeed(query: IocFeedQuery) {
      const { rows, nextCursor } = await changePage(query);
      const maxReputation = query.maxReputation;
      const listed = rows.filter((row) => isListed(row, maxReputation));
      const removed = rows.filter((row) => !isListed(row, maxReputation)).map((row) => ({ value: row.value, type: row.type }));
      return {
        generatedAt: toIso(clock.now()),
        count: rows.length,
        iocs: listed.map((row) => ({
          value: row.value,
          type: row.type,
          reputation: row.reputation,
          category: row.category,
          sightings: row.sightings,
          firstSeen: row.first_seen,
          lastSeen: row.last_seen,
          metadata: JSON.parse(row.metadata) as Record<string, unknown>,
        })),
        removed,
        nextCursor,
      };
    },

    async stixBundle(query: IocFeedQuery) {
      const rows = await feeds.stixChangesAfter(await pageStart(query), query.type ?? null, query.limit ?? 1000);
      const view = { maxReputation: query.maxReputation, now: clock.now() };
      const indicators: StixIndicator[] = [];
      // None for CVEs. Whitelisted and revoked IoCs stay in as revoked indicators, and expired or
      // above-threshold ones with a valid_until, so a SIEM withdraws them.
      for (const row of rows) indicators.push(...toStixIndicators(stixSourceOf(row), view));
      return { type: 'bundle' as const, id: stixBundleId(indicators), objects: [panguardIdentity(), ...indicators] };
    },
  };
}
export type FeedService = ReturnType<typeof createFeedService>;
