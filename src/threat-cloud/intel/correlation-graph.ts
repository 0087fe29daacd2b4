/**
 * The pure parts of the campaign correlation (services/correlation.ts runs them over the
 * database): which group survives a merge, what one pass changed, how reports of one block
 * chain in time, and whether a group's stored aggregates are stale. No SQL here.
 */
import { campaignDescription } from './campaign-text.js';
import type { Aggregates, GroupRow } from './stores/campaigns.js';

/** Two IPs of one block and category are related when reported within this of each other. */
export const NETBLOCK_WINDOW_MS = 24 * 3_600_000;

/** What decides which of two groups keeps its id. */
export type GroupRank = Pick<GroupRow, 'id' | 'formed_at' | 'created_at'>;

/**
 * Which of two groups keeps its id when an edge joins them, as [survivor, loser]: a campaign
 * over a group still below campaign size (its id is public), else the one formed first, then
 * the older, then the smaller id, so the answer never depends on the order of the arguments.
 */
export function survivorOf<T extends GroupRank>(a: T, b: T): [T, T] {
  if (Boolean(a.formed_at) !== Boolean(b.formed_at)) return a.formed_at ? [a, b] : [b, a];
  const keyA = `${a.formed_at ?? ''}|${a.created_at}|${a.id}`;
  const keyB = `${b.formed_at ?? ''}|${b.created_at}|${b.id}`;
  return keyA <= keyB ? [a, b] : [b, a];
}

/** What one pass changed, so each group is refreshed once and its timeline told once. */
export interface PassChanges {
  nowIso: string;
  /** Groups whose aggregates may have moved. */
  touched: Set<string>;
  /** IoCs newly linked into each group during the pass. */
  added: Map<string, number>;
  /** Campaigns each surviving group absorbed during the pass. */
  merged: Map<string, string[]>;
}

export function newPassChanges(nowIso: string): PassChanges {
  return { nowIso, touched: new Set(), added: new Map(), merged: new Map() };
}

/** `n` IoCs joined `groupId` (a new group's first two, or one more). */
export function noteAdded(pass: PassChanges, groupId: string, n: number): void {
  pass.added.set(groupId, (pass.added.get(groupId) ?? 0) + n);
  pass.touched.add(groupId);
}

/**
 * `loser` was absorbed into `survivorId` with its `moved` members. A campaign that disappears
 * is told as a merge; a group below campaign size counts as new indicators of the survivor.
 * Either way the loser leaves the pass, and each IoC is counted as new once.
 */
export function noteMerged(pass: PassChanges, survivorId: string, loser: Pick<GroupRow, 'id' | 'formed_at'>, moved: number): void {
  const count = (n: number) => pass.added.set(survivorId, (pass.added.get(survivorId) ?? 0) + n);
  if (loser.formed_at) {
    pass.merged.set(survivorId, [...(pass.merged.get(survivorId) ?? []), loser.id]);
    // The campaign's old members arrive as a merge; only the ones it gained in this pass are new.
    count(pass.added.get(loser.id) ?? 0);
  } else {
    // All of a small group's members are new to the survivor, those it gained in this pass included.
    count(moved);
  }
  pass.added.delete(loser.id);
  pass.touched.delete(loser.id);
  pass.touched.add(survivorId);
}

export interface TimedReport {
  id: string;
  at: number;
}

/**
 * Reports of one block and category, sorted by time, cut where two consecutive reports are
 * more than `windowMs` apart. Within a chain every report is within the window of the next, so
 * its IoCs are connected, and any peer reported between the first report − window and the last
 * + window is within the window of some report of the chain: one peer query per chain is exact.
 */
export function chains(reports: readonly TimedReport[], windowMs = NETBLOCK_WINDOW_MS): TimedReport[][] {
  const sorted = [...reports].sort((a, b) => a.at - b.at);
  const out: TimedReport[][] = [];
  for (const report of sorted) {
    const current = out.at(-1);
    if (current && report.at - current.at(-1)!.at <= windowMs) current.push(report);
    else out.push([report]);
  }
  return out;
}

/** The aggregates of a group as the list view stores them, and what its description is made of. */
export type GroupAggregates = Aggregates & { categories: string[]; honeypotTypes: string[]; byType: Record<string, number> };

/** A campaign's description, rewritten from its aggregates as it grows. */
export function describe(aggregates: GroupAggregates): string {
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

/** Whether the stored row already holds these aggregates: a re-run then writes nothing. */
export function sameAggregates(row: GroupRow, next: Aggregates): boolean {
  return (
    row.severity === next.severity &&
    row.first_seen === next.firstSeen &&
    row.last_activity === next.lastActivity &&
    row.ioc_count === next.iocCount &&
    row.affected_orgs === next.affectedOrgs &&
    row.mitre_ids === JSON.stringify(next.mitreIds) &&
    row.tags === JSON.stringify(next.tags)
  );
}

/** The timeline line of a campaign that grew by `added` indicators. */
export function extendedDetails(added: number): string {
  return `${added} new indicator${added === 1 ? '' : 's'} linked`;
}
