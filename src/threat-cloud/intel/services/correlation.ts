import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import type { Db } from '../../../shared/db/open.js';
import { newId } from '../../../shared/tokens.js';
import { campaignName } from '../campaign-text.js';
import { chains, describe, extendedDetails, NETBLOCK_WINDOW_MS, newPassChanges, noteAdded, noteMerged, sameAggregates, survivorOf, type PassChanges, type TimedReport } from '../correlation-graph.js';
import { netblockLabel, netblockOf } from '../netblock.js';
import { createCampaignStore } from '../stores/campaigns.js';
import { createCorrelationStore } from '../stores/correlation.js';

export { NETBLOCK_WINDOW_MS };
/** A campaign forms when at least this many IoCs are connected. */
export const MIN_CAMPAIGN_IOCS = 3;
/** Reports processed per transaction, so one run never holds the event loop for long. */
export const DEFAULT_BATCH = 200;
/** Distinct peer groups taken from one block per window: bounds the work for a very busy /48. */
const MAX_BLOCK_PEERS = 1000;

/**
 * The campaign correlation: IoCs are nodes, edges are trap-intel relations (attacker,
 * payloads, contacted hosts) and "IPs of one category in one /24 or /48 reported within
 * 24 h of each other". Groups are the connected components, kept incrementally (union of
 * groups as edges appear, never split: relations and past reports do not go away). Work is
 * driven by new rows of `sightings` (every upload, sighting and trap observation is one)
 * past a stored watermark, so a run touches only what changed.
 */
export function createCorrelator(db: Db, clock: Clock) {
  const groups = createCampaignStore(db);
  const reports = createCorrelationStore(db);

  const newPass = () => newPassChanges(toIso(clock.now()));

  /** Puts `a` and `b` in one group: a new one, the one either is in, or the two groups merged. */
  function link(pass: PassChanges, a: string, b: string): void {
    const groupA = groups.groupOf(a);
    const groupB = groups.groupOf(b);
    if (groupA && groupA === groupB) return;
    if (!groupA && !groupB) {
      const id = newId('campaign_');
      groups.createGroup(id, pass.nowIso);
      groups.addMember(id, a, pass.nowIso);
      groups.addMember(id, b, pass.nowIso);
      noteAdded(pass, id, 2);
      return;
    }
    if (!groupA || !groupB) {
      const target = (groupA ?? groupB)!;
      groups.addMember(target, groupA ? b : a, pass.nowIso);
      noteAdded(pass, target, 1);
      return;
    }
    const [survivor, loser] = survivorOf(groups.group(groupA)!, groups.group(groupB)!);
    const moved = groups.recount(loser.id);
    groups.absorb(survivor.id, loser.id);
    noteMerged(pass, survivor.id, loser, moved);
  }

  /** Links each reported IoC to its neighbours; `reported` maps IoC id → report times. */
  function correlate(pass: PassChanges, reported: Map<string, string[]>): void {
    const byBlock = new Map<string, { block: string; category: string; reports: TimedReport[] }>();
    for (const [id, times] of reported) {
      const ioc = reports.iocFacts(id);
      if (!ioc) continue;
      const block = ioc.type === 'ip' ? netblockOf(ioc.value) : null;
      if (block) reports.addNetblock(ioc.id, block);
      const group = groups.groupOf(ioc.id);
      if (group) pass.touched.add(group);
      if (ioc.status === 'whitelisted' || ioc.status === 'revoked') continue;
      for (const neighbour of reports.related(ioc.id)) link(pass, ioc.id, neighbour);
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
        const peers = reports.blockPeers({
          block,
          id: anchor,
          group: groups.groupOf(anchor),
          category,
          from: toIso(chain[0]!.at - NETBLOCK_WINDOW_MS),
          to: toIso(chain.at(-1)!.at + NETBLOCK_WINDOW_MS),
          limit: MAX_BLOCK_PEERS,
        });
        for (const peer of peers) link(pass, anchor, peer);
      }
    }
  }

  /** Forms campaigns that reached 3 IoCs, refreshes the aggregates and tells the timeline. */
  function finish(pass: PassChanges): void {
    for (const groupId of pass.touched) {
      if (!groups.group(groupId)) continue;
      const count = groups.recount(groupId);
      if (count < MIN_CAMPAIGN_IOCS) continue;
      const row = groups.group(groupId)!;
      const added = pass.added.get(groupId) ?? 0;
      const aggregates = groups.aggregates(groupId);
      const formedNow = !row.formed_at;
      if (formedNow) {
        const facts = groups.nameFacts(groupId);
        const name = campaignName({
          category: facts.category,
          netblock: facts.block && facts.block.n >= 2 ? netblockLabel(facts.block.block) : null,
          firstValue: facts.firstValue,
        });
        groups.form(groupId, name, pass.nowIso);
        groups.addEvent(groupId, pass.nowIso, 'Campaign detected', `${count} connected indicators`);
      } else {
        if (added > 0) groups.addEvent(groupId, pass.nowIso, 'Campaign extended', extendedDetails(added));
      }
      for (const loser of pass.merged.get(groupId) ?? []) {
        groups.addEvent(groupId, pass.nowIso, 'Campaigns merged', `${loser} joined this campaign`);
      }
      if (formedNow || added > 0 || pass.merged.has(groupId) || !sameAggregates(row, aggregates)) {
        groups.writeAggregates(groupId, aggregates, describe(aggregates), pass.nowIso);
      }
    }
  }

  const runBatch = db.transaction((limit: number): number => {
    const rows = reports.pending(reports.watermark(), limit);
    if (rows.length === 0) return 0;
    const reported = new Map<string, string[]>();
    for (const row of rows) reported.set(row.ioc_id, [...(reported.get(row.ioc_id) ?? []), row.created_at]);
    const pass = newPass();
    correlate(pass, reported);
    finish(pass);
    reports.setWatermark(rows.at(-1)!.rowid);
    return rows.length;
  });

  return {
    /** Whether reports arrived that no run has looked at yet (an indexed max, cheap). */
    hasPending(): boolean {
      return reports.latestReport() > reports.watermark();
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
      const group = groups.groupOf(iocId);
      return group && groups.campaign(group) ? group : null;
    },
  };
}
export type Correlator = ReturnType<typeof createCorrelator>;
