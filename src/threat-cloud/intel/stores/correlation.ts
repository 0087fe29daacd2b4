import { defineStatement, type Queryable } from '../../../shared/db/storage.js';

/** What the correlation needs to know of one reported IoC. */
export interface IocFacts {
  id: string;
  type: string;
  value: string;
  category: string | null;
  status: string;
}

/** One report past the watermark: a row of `sightings`. */
export interface PendingReport {
  rowid: number;
  ioc_id: string;
  created_at: string;
}

export type BlockPeerQuery = {
  block: string;
  /** The anchor IoC, never its own peer. */
  id: string;
  /** The anchor's group, whose members are skipped (already linked). */
  group: string | null;
  category: string;
  from: string;
  to: string;
  limit: number;
};

const WATERMARK = defineStatement<void, { value: number }>(`SELECT value FROM intel_state WHERE name = 'correlated_sighting'`);
const SET_WATERMARK = defineStatement<[number]>(`UPDATE intel_state SET value = ? WHERE name = 'correlated_sighting'`);
const LATEST_SIGHTING = defineStatement<void, { n: number | null }>(`SELECT max(rowid) AS n FROM sightings`);
const PENDING = defineStatement<[number, number], PendingReport>(`SELECT rowid, ioc_id, created_at FROM sightings WHERE rowid > ? ORDER BY rowid LIMIT ?`);
const IOC_FACTS = defineStatement<[string], IocFacts>(`SELECT id, type, value, category, status FROM iocs WHERE id = ?`);
const ADD_NETBLOCK = defineStatement<[string, string]>(`INSERT INTO ioc_netblocks (ioc_id, block) VALUES (?, ?) ON CONFLICT DO NOTHING`);
const RELATED = defineStatement<[string, string], { id: string }>(
  `SELECT r.to_id AS id FROM ioc_relations r JOIN iocs i ON i.id = r.to_id
       WHERE r.from_id = ? AND i.status NOT IN ('whitelisted', 'revoked')
     UNION
     SELECT r.from_id FROM ioc_relations r JOIN iocs i ON i.id = r.from_id
       WHERE r.to_id = ? AND i.status NOT IN ('whitelisted', 'revoked')`,
);
// One row per distinct group among the peers (and per peer in no group yet), skipping the
// IoC's own group first, so a busy block costs index probes in SQL, not a link per peer.
const BLOCK_PEERS = defineStatement<BlockPeerQuery, { id: string }>(
  `SELECT min(b.ioc_id) AS id
     FROM ioc_netblocks b LEFT JOIN campaign_iocs m ON m.ioc_id = b.ioc_id JOIN iocs i ON i.id = b.ioc_id
     WHERE b.block = @block AND b.ioc_id <> @id AND (CAST(@group AS TEXT) IS NULL OR m.campaign_id IS NULL OR m.campaign_id <> @group)
       AND i.category = @category AND i.status NOT IN ('whitelisted', 'revoked')
       AND EXISTS (SELECT 1 FROM sightings s WHERE s.ioc_id = b.ioc_id AND s.created_at BETWEEN @from AND @to)
     GROUP BY coalesce(m.campaign_id, b.ioc_id)
     LIMIT @limit`,
);

/**
 * The correlation's reads and writes outside the campaign tables: the watermark over
 * `sightings`, the facts of reported IoCs, their network blocks, relations and block peers.
 * Every method takes the Queryable first: the correlation's transaction, or the storage for
 * the cheap check outside one. Groups and campaigns are in stores/campaigns.ts.
 */
export const correlationReports = {
  /** The last `sightings` rowid a run has processed. */
  async watermark(q: Queryable): Promise<number> {
    return (await q.get(WATERMARK))!.value;
  },
  async setWatermark(q: Queryable, rowid: number): Promise<void> {
    await q.run(SET_WATERMARK, [rowid]);
  },
  /** The newest `sightings` rowid (an indexed max, cheap), 0 when there is none. */
  async latestReport(q: Queryable): Promise<number> {
    return (await q.get(LATEST_SIGHTING))!.n ?? 0;
  },
  /** Up to `limit` reports after `afterRowid`, oldest first. */
  pending(q: Queryable, afterRowid: number, limit: number): Promise<PendingReport[]> {
    return q.all(PENDING, [afterRowid, limit]);
  },
  iocFacts(q: Queryable, iocId: string): Promise<IocFacts | undefined> {
    return q.get(IOC_FACTS, [iocId]);
  },
  async addNetblock(q: Queryable, iocId: string, block: string): Promise<void> {
    await q.run(ADD_NETBLOCK, [iocId, block]);
  },
  /** IoCs related to this one in either direction, whitelisted and revoked ones left out. */
  async related(q: Queryable, iocId: string): Promise<string[]> {
    return (await q.all(RELATED, [iocId, iocId])).map((row) => row.id);
  },
  /** One IoC per other group (or per ungrouped IoC) of the block and category reported in the window. */
  async blockPeers(q: Queryable, query: BlockPeerQuery): Promise<string[]> {
    return (await q.all(BLOCK_PEERS, query)).map((row) => row.id);
  },
};
export type CorrelationReports = typeof correlationReports;
