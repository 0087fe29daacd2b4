import type { Db } from '../../../shared/db/open.js';

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

export interface BlockPeerQuery {
  block: string;
  /** The anchor IoC, never its own peer. */
  id: string;
  /** The anchor's group, whose members are skipped (already linked). */
  group: string | null;
  category: string;
  from: string;
  to: string;
  limit: number;
}

/**
 * The correlation's reads and writes outside the campaign tables: the watermark over
 * `sightings`, the facts of reported IoCs, their network blocks, relations and block peers.
 * Statements prepared once; groups and campaigns are in stores/campaigns.ts.
 */
export function createCorrelationStore(db: Db) {
  const watermark = db.prepare<[], { value: number }>(`SELECT value FROM intel_state WHERE name = 'correlated_sighting'`);
  const setWatermark = db.prepare<[number]>(`UPDATE intel_state SET value = ? WHERE name = 'correlated_sighting'`);
  const latestSighting = db.prepare<[], { n: number | null }>(`SELECT max(rowid) AS n FROM sightings`);
  const pending = db.prepare<[number, number], PendingReport>(`SELECT rowid, ioc_id, created_at FROM sightings WHERE rowid > ? ORDER BY rowid LIMIT ?`);
  const iocFacts = db.prepare<[string], IocFacts>(`SELECT id, type, value, category, status FROM iocs WHERE id = ?`);
  const addNetblock = db.prepare<[string, string]>(`INSERT INTO ioc_netblocks (ioc_id, block) VALUES (?, ?) ON CONFLICT DO NOTHING`);
  const related = db.prepare<[string, string], { id: string }>(
    `SELECT r.to_id AS id FROM ioc_relations r JOIN iocs i ON i.id = r.to_id
       WHERE r.from_id = ? AND i.status NOT IN ('whitelisted', 'revoked')
     UNION
     SELECT r.from_id FROM ioc_relations r JOIN iocs i ON i.id = r.from_id
       WHERE r.to_id = ? AND i.status NOT IN ('whitelisted', 'revoked')`,
  );
  // One row per distinct group among the peers (and per peer in no group yet), skipping the
  // IoC's own group first, so a busy block costs index probes in SQL, not a link per peer.
  const blockPeers = db.prepare<BlockPeerQuery, { id: string }>(
    `SELECT min(b.ioc_id) AS id
     FROM ioc_netblocks b LEFT JOIN campaign_iocs m ON m.ioc_id = b.ioc_id JOIN iocs i ON i.id = b.ioc_id
     WHERE b.block = @block AND b.ioc_id <> @id AND (CAST(@group AS TEXT) IS NULL OR m.campaign_id IS NULL OR m.campaign_id <> @group)
       AND i.category = @category AND i.status NOT IN ('whitelisted', 'revoked')
       AND EXISTS (SELECT 1 FROM sightings s WHERE s.ioc_id = b.ioc_id AND s.created_at BETWEEN @from AND @to)
     GROUP BY coalesce(m.campaign_id, b.ioc_id)
     LIMIT @limit`,
  );

  return {
    /** The last `sightings` rowid a run has processed. */
    watermark(): number {
      return watermark.get()!.value;
    },
    setWatermark(rowid: number): void {
      setWatermark.run(rowid);
    },
    /** The newest `sightings` rowid (an indexed max, cheap), 0 when there is none. */
    latestReport(): number {
      return latestSighting.get()!.n ?? 0;
    },
    /** Up to `limit` reports after `afterRowid`, oldest first. */
    pending(afterRowid: number, limit: number): PendingReport[] {
      return pending.all(afterRowid, limit);
    },
    iocFacts(iocId: string): IocFacts | undefined {
      return iocFacts.get(iocId);
    },
    addNetblock(iocId: string, block: string): void {
      addNetblock.run(iocId, block);
    },
    /** IoCs related to this one in either direction, whitelisted and revoked ones left out. */
    related(iocId: string): string[] {
      return related.all(iocId, iocId).map((row) => row.id);
    },
    /** One IoC per other group (or per ungrouped IoC) of the block and category reported in the window. */
    blockPeers(query: BlockPeerQuery): string[] {
      return blockPeers.all(query).map((row) => row.id);
    },
  };
}
export type CorrelationStore = ReturnType<typeof createCorrelationStore>;
