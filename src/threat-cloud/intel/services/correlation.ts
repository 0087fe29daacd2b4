import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import type { Db } from '../../../shared/db/open.js';
import { newId } from '../../../shared/tokens.js';
import { createCampaignStore, type Aggregates, type GroupRow } from '../stores/campaigns.js';
import { campaignDescription, campaignName } from '../campaign-text.js';
import { netblockLabel, netblockOf } from '../netblock.js';

/** A campaign forms when at least this many IoCs are connected. */
export const MIN_CAMPAIGN_IOCS = 3;
/** Two IPs of one block and category are related when reported within this of each other. */
export const NETBLOCK_WINDOW_MS = 24 * 3_600_000;
/** Reports processed per transaction, so one run never holds the event loop for long. */
export const DEFAULT_BATCH = 200;
/** Distinct peer groups taken from one block per window: bounds the work for a very busy /48. */
const MAX_BLOCK_PEERS = 1000;

interface IocFacts {
  id: string;
  type: string;
  value: string;
  category: string | null;
  status: string;
}

/**
 * The campaign correlation: IoCs are nodes, edges are trap-intel relations (attacker,
 * payloads, contacted hosts) and "IPs of one category in one /24 or /48 reported within
 * 24 h of each other". Groups are the connected components, kept incrementally (union of
 * groups as edges appear, never split: relations and past reports do not go away). Work is
 * driven by new rows of `sightings` (every upload, sighting and trap observation is one)
 * past a stored watermark, so a run touches only what changed.
 */
export function createCorrelator(db: Db, clock: Clock) {
  const store = createCampaignStore(db);
  const watermark = db.prepare<[], { value: number }>(`SELECT value FROM intel_state WHERE name = 'correlated_sighting'`);
  const setWatermark = db.prepare<[number]>(`UPDATE intel_state SET value = ? WHERE name = 'correlated_sighting'`);
  const latestSighting = db.prepare<[], { n: number | null }>(`SELECT max(rowid) AS n FROM sightings`);
  const pending = db.prepare<[number, number], { rowid: number; ioc_id: string; created_at: string }>(
    `SELECT rowid, ioc_id, created_at FROM sightings WHERE rowid > ? ORDER BY rowid LIMIT ?`,
  );
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
  const blockPeers = db.prepare<
    { block: string; id: string; group: string | null; category: string; from: string; to: string; limit: number },
    { id: string }
  >(
    `SELECT min(b.ioc_id) AS id
     FROM ioc_netblocks b LEFT JOIN campaign_iocs m ON m.ioc_id = b.ioc_id JOIN iocs i ON i.id = b.ioc_id
     WHERE b.block = @block AND b.ioc_id <> @id AND (@group IS NULL OR m.campaign_id IS NULL OR m.campaign_id <> @group)
       AND i.category = @category AND i.status NOT IN ('whitelisted', 'revoked')
       AND EXISTS (SELECT 1 FROM sightings s WHERE s.ioc_id = b.ioc_id AND s.created_at BETWEEN @from AND @to)
     GROUP BY coalesce(m.campaign_id, b.ioc_id)
     LIMIT @limit`,
  );

  /** What one pass changed, so each group is refreshed once and its timeline told once. */
  interface Pass {
    nowIso: string;
    touched: Set<string>;
    added: Map<string, number>;
    merged: Map<string, string[]>;
  }

  const newPass = (): Pass => ({ nowIso: toIso(clock.now()), touched: new Set(), added: new Map(), merged: new Map() });
  const countAdded = (pass: Pass, groupId: string, n: number) => pass.added.set(groupId, (pass.added.get(groupId) ?? 0) + n);

  /** Which of two groups keeps its id: a campaign over a smaller group, else the older. */
  function survivorOf(a: GroupRow, b: GroupRow): [GroupRow, GroupRow] {
    if (Boolean(a.formed_at) !== Boolean(b.formed_at)) return a.formed_at ? [a, b] : [b, a];
    const keyA = `${a.formed_at ?? ''}|${a.created_at}|${a.id}`;
    const keyB = `${b.formed_at ?? ''}|${b.created_at}|${b.id}`;
    return keyA <= keyB ? [a, b] : [b, a];
  }

  function link(pass: Pass, a: string, b: string): void {
    const groupA = store.groupOf(a);
    const groupB = store.groupOf(b);
    if (groupA && groupA === groupB) return;
    if (!groupA && !groupB) {
      const id = newId('campaign_');
      store.createGroup(id, pass.nowIso);
      store.addMember(id, a, pass.nowIso);
      store.addMember(id, b, pass.nowIso);
      countAdded(pass, id, 2);
      pass.touched.add(id);
      return;
    }
    if (!groupA || !groupB) {
      const target = (groupA ?? groupB)!;
      store.addMember(target, groupA ? b : a, pass.nowIso);
      countAdded(pass, target, 1);
      pass.touched.add(target);
      return;
    }
    const [survivor, loser] = survivorOf(store.group(groupA)!, store.group(groupB)!);
    const moved = store.recount(loser.id);
    store.absorb(survivor.id, loser.id);
    if (loser.formed_at) pass.merged.set(survivor.id, [...(pass.merged.get(survivor.id) ?? []), loser.id]);
    else countAdded(pass, survivor.id, moved);
    countAdded(pass, survivor.id, pass.added.get(loser.id) ?? 0);
    pass.added.delete(loser.id);
    pass.touched.delete(loser.id);
    pass.touched.add(survivor.id);
  }

  /**
   * Reports of one block and category, sorted by time, cut where two consecutive reports are
   * more than 24 h apart. Within a chain every report is within 24 h of the next, so its IoCs
   * are connected, and any peer reported between the first report − 24 h and the last + 24 h
   * is within 24 h of some report of the chain: one peer query per chain is exact.
   */
  function chains(reports: Array<{ id: string; at: number }>): Array<Array<{ id: string; at: number }>> {
    const sorted = [...reports].sort((a, b) => a.at - b.at);
    const out: Array<Array<{ id: string; at: number }>> = [];
    for (const report of sorted) {
      const current = out.at(-1);
      if (current && report.at - current.at(-1)!.at <= NETBLOCK_WINDOW_MS) current.push(report);
      else out.push([report]);
    }
    return out;
  }

  /** Links each reported IoC to its neighbours; `reports` maps IoC id → report times. */
  function correlate(pass: Pass, reports: Map<string, string[]>): void {
    const byBlock = new Map<string, { block: string; category: string; reports: Array<{ id: string; at: number }> }>();
    for (const [id, times] of reports) {
      const ioc = iocFacts.get(id);
      if (!ioc) continue;
      const block = ioc.type === 'ip' ? netblockOf(ioc.value) : null;
      if (block) addNetblock.run(ioc.id, block);
      const group = store.groupOf(ioc.id);
      if (group) pass.touched.add(group);
      if (ioc.status === 'whitelisted' || ioc.status === 'revoked') continue;
      for (const neighbour of related.all(ioc.id, ioc.id)) link(pass, ioc.id, neighbour.id);
      if (!block || !ioc.category) continue;
      const key = `${block}|${ioc.category}`;
      const entry = byBlock.get(key) ?? { block, category: ioc.category, reports: [] };
      for (const time of times) entry.reports.push({ id: ioc.id, at: Date.parse(time) });
      byBlock.set(key, entry);
    }
    for (const { block, category, reports: blockReports } of byBlock.values()) {
      for (const chain of chains(blockReports)) {
        const anchor = chain[0]!.id;
        for (const report of chain.slice(1)) if (report.id !== anchor) link(pass, anchor, report.id);
        const peers = blockPeers.all({
          block,
          id: anchor,
          group: store.groupOf(anchor),
          category,
          from: toIso(chain[0]!.at - NETBLOCK_WINDOW_MS),
          to: toIso(chain.at(-1)!.at + NETBLOCK_WINDOW_MS),
          limit: MAX_BLOCK_PEERS,
        });
        for (const peer of peers) link(pass, anchor, peer.id);
      }
    }
  }

  function describe(aggregates: ReturnType<typeof store.aggregates>): string {
    return campaignDescription({
      iocCount: aggregates.iocCount,
      byType: aggregates.byType,
      affectedOrgs: aggregates.affectedOrgs,
      firstSeen: aggregates.firstSeen,
      lastActivity: aggregates.lastActivity,
      categories: aggregates.categories,
      honeypotTypes: aggregates.honeypotTypes,
    });
  }

  const sameAggregates = (row: GroupRow, next: Aggregates) =>
    row.severity === next.severity &&
    row.first_seen === next.firstSeen &&
    row.last_activity === next.lastActivity &&
    row.ioc_count === next.iocCount &&
    row.affected_orgs === next.affectedOrgs &&
    row.mitre_ids === JSON.stringify(next.mitreIds) &&
    row.tags === JSON.stringify(next.tags);

  /** Forms campaigns that reached 3 IoCs, refreshes the aggregates and tells the timeline. */
  function finish(pass: Pass): void {
    for (const groupId of pass.touched) {
      if (!store.group(groupId)) continue;
      const count = store.recount(groupId);
      if (count < MIN_CAMPAIGN_IOCS) continue;
      const row = store.group(groupId)!;
      const added = pass.added.get(groupId) ?? 0;
      const aggregates = store.aggregates(groupId);
      const formedNow = !row.formed_at;
      if (formedNow) {
        const facts = store.nameFacts(groupId);
        const name = campaignName({
          category: facts.category,
          netblock: facts.block && facts.block.n >= 2 ? netblockLabel(facts.block.block) : null,
          firstValue: facts.firstValue,
        });
        store.form(groupId, name, pass.nowIso);
        store.addEvent(groupId, pass.nowIso, 'Campaign detected', `${count} connected indicators`);
      } else {
        if (added > 0) store.addEvent(groupId, pass.nowIso, 'Campaign extended', `${added} new indicator${added === 1 ? '' : 's'} linked`);
      }
      for (const loser of pass.merged.get(groupId) ?? []) {
        store.addEvent(groupId, pass.nowIso, 'Campaigns merged', `${loser} joined this campaign`);
      }
      if (formedNow || added > 0 || pass.merged.has(groupId) || !sameAggregates(row, aggregates)) {
        store.writeAggregates(groupId, aggregates, describe(aggregates), pass.nowIso);
      }
    }
  }

  const runBatch = db.transaction((limit: number): number => {
    const rows = pending.all(watermark.get()!.value, limit);
    if (rows.length === 0) return 0;
    const reports = new Map<string, string[]>();
    for (const row of rows) reports.set(row.ioc_id, [...(reports.get(row.ioc_id) ?? []), row.created_at]);
    const pass = newPass();
    correlate(pass, reports);
    finish(pass);
    setWatermark.run(rows.at(-1)!.rowid);
    return rows.length;
  });

  return {
    /** Whether reports arrived that no run has looked at yet (an indexed max, cheap). */
    hasPending(): boolean {
      return (latestSighting.get()!.n ?? 0) > watermark.get()!.value;
    },
    /** Processes up to `limit` new reports in one transaction; returns how many. */
    runBatch(limit = DEFAULT_BATCH): number {
      return runBatch(limit);
    },
    /**
     * Correlates these IoCs now, as reported at this instant, in the caller's transaction
     * (trap intel wants its campaign match in the reply). Idempotent with the later run
     * over the same reports. Returns the campaign of the first IoC, or null.
     */
    correlateNow(iocIds: readonly string[]): string | null {
      if (!db.inTransaction) throw new Error('correlateNow must run inside a transaction');
      const pass = newPass();
      correlate(pass, new Map(iocIds.map((id) => [id, [pass.nowIso]])));
      finish(pass);
      return this.campaignOf(iocIds[0] ?? '');
    },
    /** The campaign (formed) an IoC belongs to, or null. */
    campaignOf(iocId: string): string | null {
      const group = store.groupOf(iocId);
      return group && store.campaign(group) ? group : null;
    },
  };
}
export type Correlator = ReturnType<typeof createCorrelator>;
