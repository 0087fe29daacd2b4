import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { defineStatement, type Storage } from '../../shared/db/storage.js';
import type { Category, IocStatus } from './iocs.js';
import type { IocType } from '../normalise.js';
import type { Severity } from '../reputation.js';

/** Rows read per statement while streaming: bounds memory whatever the feed's size. */
export const STREAM_CHUNK = 2000;

interface Position {
  reputation: number;
  lastSeen: string;
  rid: number;
}
interface ListedRow {
  rid: number;
  value: string;
  reputation: number;
  last_seen: string;
}

export type BlocklistFilter = {
  type: IocType;
  threshold: number;
  category: Category | null;
};

const CURSOR_PREFIX = 'c1.';

/** Opaque cursor: a position in the change sequence, encoded so clients do not build their own. */
export function encodeCursor(seq: number): string {
  return CURSOR_PREFIX + Buffer.from(`seq:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number | null {
  if (!cursor.startsWith(CURSOR_PREFIX)) return null;
  const match = /^seq:(\d{1,15})$/.exec(Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString());
  return match ? Number(match[1]) : null;
}

/** Weak validator of a feed: changes whenever the change sequence, a refresh, or the query does. */
export function feedEtag(kind: string, seq: number, refresh: number, query: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify([kind, query])).digest('base64url').slice(0, 16);
  return `W/"${kind}-${seq}-${refresh}-${digest}"`;
}

export interface ChangeRow {
  value: string;
  type: IocType;
  reputation: number;
  status: IocStatus;
  category: Category | null;
  sightings: number;
  first_seen: string;
  last_seen: string;
  metadata: string;
  change_seq: number;
}

/** A change row with what the STIX export also needs to date each indicator's version. */
export interface StixChangeRow extends ChangeRow {
  updated_at: string;
  /** JSON: the IoC's earlier STIX ids (migrations/013-stix-lineage.ts). */
  stix_lineage: string;
  severity: Severity;
  confidence: number;
  reporters: number;
  trap: number;
}

const LISTED = `type = @type AND status = 'active' AND (CAST(@category AS TEXT) IS NULL OR category = @category)`;
type ListedPage = { type: IocType; category: Category | null; threshold: number; reputation: number; lastSeen: string; rid: number; limit: number };
type ChangePage = { after: number; until: number; type: string | null; limit: number };

/** The feeds' reads through the storage port (keyset pages: each one indexed seek, bounded by its LIMIT). */
export const FEED_READS = {
  sameInstant: defineStatement<ListedPage, ListedRow>(
    `SELECT rowid AS rid, value, reputation, last_seen FROM iocs
     WHERE ${LISTED} AND reputation = @reputation AND last_seen = @lastSeen AND rowid > @rid
     ORDER BY rowid LIMIT @limit`,
  ),
  sameReputation: defineStatement<ListedPage, ListedRow>(
    `SELECT rowid AS rid, value, reputation, last_seen FROM iocs
     WHERE ${LISTED} AND reputation = @reputation AND last_seen < @lastSeen
     ORDER BY last_seen DESC, rowid LIMIT @limit`,
  ),
  higherReputation: defineStatement<Omit<ListedPage, 'lastSeen' | 'rid'>, ListedRow>(
    `SELECT rowid AS rid, value, reputation, last_seen FROM iocs
     WHERE ${LISTED} AND reputation > @reputation AND reputation <= @threshold
     ORDER BY reputation, last_seen DESC, rowid LIMIT @limit`,
  ),
  countListed: defineStatement<BlocklistFilter, { n: number }>(
    // The blocklist's own index: the status-first list index would count every type.
    `SELECT count(*) AS n FROM iocs INDEXED BY iocs_feed WHERE ${LISTED} AND reputation <= @threshold`,
  ),
  changesAfter: defineStatement<ChangePage, ChangeRow>(
    `SELECT value, type, reputation, status, category, sightings, first_seen, last_seen, metadata, change_seq FROM iocs
     WHERE change_seq > @after AND change_seq <= @until AND (CAST(@type AS TEXT) IS NULL OR type = @type)
     ORDER BY change_seq LIMIT @limit`,
  ),
  stixChangesAfter: defineStatement<Omit<ChangePage, 'until'>, StixChangeRow>(
    `SELECT value, type, reputation, status, category, sightings, first_seen, last_seen, metadata, change_seq,
       updated_at, severity, confidence, reporters, trap, stix_lineage FROM iocs
     WHERE change_seq > @after AND (CAST(@type AS TEXT) IS NULL OR type = @type)
     ORDER BY change_seq LIMIT @limit`,
  ),
  firstSeqAfterTime: defineStatement<[string], { seq: number | null }>(`SELECT min(change_seq) - 1 AS seq FROM iocs WHERE updated_at > ?`),
  lastSeq: defineStatement<void, { value: number }>(`SELECT value FROM tc_state WHERE name = 'seq'`),
};

/**
 * Feed queries. Blocklists are read in keyset-paginated chunks (most malicious first:
 * reputation ascending, then most recently seen, then insertion order), each chunk one
 * indexed seek, so a million-row feed never sits in memory and never holds the connection.
 */
export function createFeedStore(storage: Storage) {
  const q = FEED_READS;

  async function nextChunk(filter: BlocklistFilter, after: Position): Promise<ListedRow[]> {
    const base = { type: filter.type, category: filter.category, threshold: filter.threshold };
    const rows: ListedRow[] = [];
    const want = () => STREAM_CHUNK - rows.length;
    if (after.reputation >= 0) {
      rows.push(...(await storage.all(q.sameInstant, { ...base, ...after, limit: want() })));
      if (want() > 0) rows.push(...(await storage.all(q.sameReputation, { ...base, ...after, limit: want() })));
    }
    if (want() > 0) rows.push(...(await storage.all(q.higherReputation, { ...base, reputation: after.reputation, limit: want() })));
    return rows;
  }

  const lastSeq = async (): Promise<number> => (await storage.get(q.lastSeq))!.value;

  return {
    async countListed(filter: BlocklistFilter): Promise<number> {
      return (await storage.get(q.countListed, { type: filter.type, threshold: filter.threshold, category: filter.category }))!.n;
    },

    /** Listed values in feed order, chunk by chunk, pulled only as fast as the consumer reads. */
    async *listedValues(filter: BlocklistFilter): AsyncGenerator<string[]> {
      let position: Position = { reputation: -1, lastSeen: '', rid: 0 };
      for (;;) {
        const rows = await nextChunk(filter, position);
        if (rows.length === 0) return;
        const last = rows[rows.length - 1]!;
        position = { reputation: last.reputation, lastSeen: last.last_seen, rid: last.rid };
        yield rows.map((row) => row.value);
        if (rows.length < STREAM_CHUNK) return;
      }
    },

    /** IoCs whose latest change is after `after` (and not after `until`), in change order. */
    changesAfter(after: number, type: IocType | null, limit: number, until = Number.MAX_SAFE_INTEGER): Promise<ChangeRow[]> {
      return storage.all(q.changesAfter, { after, until, type, limit });
    },

    /** As changesAfter, with the columns that date a STIX indicator's version. */
    stixChangesAfter(after: number, type: IocType | null, limit: number): Promise<StixChangeRow[]> {
      return storage.all(q.stixChangesAfter, { after, type, limit });
    },

    /** The changes in (after, until], chunk by chunk, at most `max` of them. */
    async *changesBetween(
      after: number,
      until: number,
      type: IocType | null,
      { chunk = STREAM_CHUNK, max = Number.POSITIVE_INFINITY }: { chunk?: number; max?: number } = {},
    ): AsyncGenerator<ChangeRow[]> {
      let position = after;
      let left = max;
      while (left > 0) {
        const limit = Math.min(chunk, left);
        const rows = await storage.all(q.changesAfter, { after: position, until, type, limit });
        if (rows.length === 0) return;
        position = rows[rows.length - 1]!.change_seq;
        left -= rows.length;
        yield rows;
        if (rows.length < limit) return;
      }
    },

    /** The position just before the first change after an instant (the `since` of a first sync). */
    async positionBefore(sinceIso: string): Promise<number> {
      return (await storage.get(q.firstSeqAfterTime, [sinceIso]))?.seq ?? (await lastSeq());
    },

    lastSeq,
  };
}
export type FeedStore = ReturnType<typeof createFeedStore>;

/** The text blocklist of the contract: comment header, then one value per line, streamed. */
export async function blocklistStream(feeds: FeedStore, filter: BlocklistFilter, options: { title: string; noun: string; generatedAt: string }): Promise<Readable> {
  // Counted before the response starts, so a failure is an error answer rather than a cut body.
  const total = await feeds.countListed(filter);
  async function* lines(): AsyncGenerator<string> {
    yield `# ${options.title}\n# Generated: ${options.generatedAt}\n# Total: ${total} ${options.noun}\n`;
    for await (const values of feeds.listedValues(filter)) yield `${values.join('\n')}\n`;
  }
  return Readable.from(lines(), { objectMode: false, highWaterMark: 64 * 1024 });
}

