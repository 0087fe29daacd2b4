import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import type { Queryable, Storage, Transaction } from '../../../shared/db/storage.js';
import { newId } from '../../../shared/tokens.js';
import { campaignName } from '../campaign-text.js';
import { chains, describe, extendedDetails, NETBLOCK_WINDOW_MS, newPassChanges, noteAdded, noteMerged, sameAggregates, survivorOf, type PassChanges, type TimedReport } from '../correlation-graph.js';
import { netblockLabel, netblockOf } from '../netblock.js';
import { campaignGroups as groups } from '../stores/campaigns.js';
import { correlationReports as reports } from '../stores/correlation.js';

export { NETBLOCK_WINDOW_MS };
/** A campaign forms when at least this many IoCs are connected. */
export const MIN_CAMPAIGN_IOCS = 3;
/** Reports processed per transaction, so one run never holds the event loop for long. */
export const DEFAULT_BATCH = 200;
/** Distinct peer groups taken from one block per window: bounds the work for a very busy /48. */
const MAX_BLOCK_PEERS = 1000;
/**
 * Taken by every transaction that correlates: it reads groups and the watermark and then
 * writes them, so two on PostgreSQL must not interleave (trap intel's transaction included).
 */
export const CAMPAIGNS_LOCK = 'tc:campaigns';

/**
 * The campaign correlation: IoCs are nodes, edges are trap-intel relations (attacker,
 * payloads, contacted hosts) and "IPs of one category in one /24 or /48 reported within
 * 24 h of each other". Groups are the connected components, kept incrementally (union of
 * groups as edges appear, never split: relations and past reports do not go away). Work is
 * driven by new rows of `sightings` (every upload, sighting and trap observation is one)
 * past a stored watermark, so a run touches only what changed. `storage` is the connection's
 * own port unless another is given (the engine comparison runs it on PostgreSQL).
 */
export function createCorrelator(storage: Storage, clock: Clock) {

  const newPass = () => newPassChanges(toIso(clock.now()));

  /** Puts `a` and `b` in one group: a new one, the one either is in, or the two groups merged. */
  async function link(tx: Transaction, pass: PassChanges, a: string, b: string): Promise<void> {
    const groupA = await groups.groupOf(tx, a);
    const groupB = await groups.groupOf(tx, b);
    if (groupA && groupA === groupB) return;
    if (!groupA && !groupB) {
      const id = newId('campaign_');
      await groups.createGroup(tx, id, pass.nowIso);
      await groups.addMember(tx, id, a, pass.nowIso);
      await groups.addMember(tx, id, b, pass.nowIso);
      noteAdded(pass, id, 2);
      return;
    }
    if (!groupA || !groupB) {
      const target = (groupA ?? groupB)!;
      await groups.addMember(tx, target, groupA ? b : a, pass.nowIso);
      noteAdded(pass, target, 1);
      return;
    }
    const [survivor, loser] = survivorOf((await groups.group(tx, groupA))!, (await groups.group(tx, groupB))!);
    const moved = await groups.recount(tx, loser.id);
    await groups.absorb(tx, survivor.id, loser.id);
    noteMerged(pass, survivor.id, loser, moved);
  }

  /** Links each reported IoC to its neighbours; `reported` maps IoC id → report times. */
  async function correlate(tx: Transaction, pass: PassChanges, reported: Map<string, string[]>): Promise<void> {
    const byBlock = new Map<string, { block: string; category: string; reports: TimedReport[] }>();
    for (const [id, times] of reported) {
      const ioc = await reports.iocFacts(tx, id);
      if (!ioc) continue;
      const block = ioc.type === 'ip' ? netblockOf(ioc.value) : null;
      if (block) await reports.addNetblock(tx, ioc.id, block);
      const group = await groups.groupOf(tx, ioc.id);
      if (group) pass.touched.add(group);
      if (ioc.status === 'whitelisted' || ioc.status === 'revoked') continue;
      for (const neighbour of await reports.related(tx, ioc.id)) await link(tx, pass, ioc.id, neighbour);
      if (!block || !ioc.category) continue;
      const key = `${block}|${ioc.category}`;
      const entry = byBlock.get(key) ?? { block, category: ioc.category, reports: [] };
      for (const time of times) entry.reports.push({ id: ioc.id, at: Date.parse(time) });
      byBlock.set(key, entry);
    }
    for (const { block, category, reports: blockReports } of byBlock.values()) {
      for (const chain of chains(blockReports)) {
        const anchor = chain[0]!.id;
        for (const report of chain.slice(1)) if (report.id !== anchor) await link(tx, pass, anchor, report.id);
        const peers = await reports.blockPeers(tx, {
          block,
          id: anchor,
          group: await groups.groupOf(tx, anchor),
          category,
          from: toIso(chain[0]!.at - NETBLOCK_WINDOW_MS),
          to: toIso(chain.at(-1)!.at + NETBLOCK_WINDOW_MS),
          limit: MAX_BLOCK_PEERS,
        });
        for (const peer of peers) await link(tx, pass, anchor, peer);
      }
    }
  }

  /** Forms campaigns that reached 3 IoCs, refreshes the aggregates and tells the timeline. */
  async function finish(tx: Transaction, pass: PassChanges): Promise<void> {
    for (const groupId of pass.touched) {
      if (!(await groups.group(tx, groupId))) continue;
      const count = await groups.recount(tx, groupId);
      if (count < MIN_CAMPAIGN_IOCS) continue;
      const row = (await groups.group(tx, groupId))!;
      const added = pass.added.get(groupId) ?? 0;
      const aggregates = await groups.aggregates(tx, groupId);
      const formedNow = !row.formed_at;
      if (formedNow) {
        const facts = await groups.nameFacts(tx, groupId);
        const name = campaignName({
          category: facts.category,
          netblock: facts.block && facts.block.n >= 2 ? netblockLabel(facts.block.block) : null,
          firstValue: facts.firstValue,
        });
        await groups.form(tx, groupId, name, pass.nowIso);
        await groups.addEvent(tx, groupId, pass.nowIso, 'Campaign detected', `${count} connected indicators`);
      } else {
        if (added > 0) await groups.addEvent(tx, groupId, pass.nowIso, 'Campaign extended', extendedDetails(added));
      }
      for (const loser of pass.merged.get(groupId) ?? []) {
        await groups.addEvent(tx, groupId, pass.nowIso, 'Campaigns merged', `${loser} joined this campaign`);
      }
      if (formedNow || added > 0 || pass.merged.has(groupId) || !sameAggregates(row, aggregates)) {
        await groups.writeAggregates(tx, groupId, aggregates, describe(aggregates), pass.nowIso);
      }
    }
  }

  /** The campaign (formed) an IoC belongs to, or null. */
  async function campaignOf(q: Queryable, iocId: string): Promise<string | null> {
    const group = await groups.groupOf(q, iocId);
    return group && (await groups.campaign(q, group)) ? group : null;
  }

  return {
    /** Whether reports arrived that no run has looked at yet (an indexed max, cheap). */
    async hasPending(): Promise<boolean> {
      return (await reports.latestReport(storage)) > (await reports.watermark(storage));
    },
    /** Processes up to `limit` new reports in one transaction; returns how many. */
    runBatch(limit = DEFAULT_BATCH): Promise<number> {
      return storage.transaction({ durable: false, locks: [CAMPAIGNS_LOCK] }, async (tx) => {
        const rows = await reports.pending(tx, await reports.watermark(tx), limit);
        if (rows.length === 0) return 0;
        const reported = new Map<string, string[]>();
        for (const row of rows) reported.set(row.ioc_id, [...(reported.get(row.ioc_id) ?? []), row.created_at]);
        const pass = newPass();
        await correlate(tx, pass, reported);
        await finish(tx, pass);
        await reports.setWatermark(tx, rows.at(-1)!.rowid);
        return rows.length;
      });
    },
    /**
     * Correlates these IoCs now, as reported at this instant, in the caller's transaction
     * (trap intel wants its campaign match in the reply), which must hold CAMPAIGNS_LOCK.
     * Idempotent with the later run over the same reports. Returns the campaign of the
     * first IoC, or null.
     */
    async correlateNow(tx: Transaction, iocIds: readonly string[]): Promise<string | null> {
      const pass = newPass();
      await correlate(tx, pass, new Map(iocIds.map((id) => [id, [pass.nowIso]])));
      await finish(tx, pass);
      return campaignOf(tx, iocIds[0] ?? '');
    },
    campaignOf,
  };
}
export type Correlator = ReturnType<typeof createCorrelator>;
