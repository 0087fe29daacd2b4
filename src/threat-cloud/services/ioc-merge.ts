import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Transaction, Storage } from '../../shared/db/storage.js';
import { createCountryResolver, type CountryResolver } from '../geo.js';
import { createIocStore, type Ioc, type IocKey, type IocStatus, type IocView, type LookupResult, type ReportEntry } from '../stores/iocs.js';
import type { IocType } from '../normalise.js';
import { endOfStixId, isStixRevoked } from '../stix.js';
import { UNKNOWN_REPUTATION, reputationFactors, type ReputationFactors } from '../reputation.js';
import { mergedIoc, newIoc, reputationFor, reputationInputs, type IocReport } from './ioc-builders.js';

export type { IocReport } from './ioc-builders.js';

/**
 * The lock of every transaction that takes change positions or reads an IoC and then writes
 * it: the merge and the change sequence (feed cursors) rely on one writer at a time.
 */
export const TC_CHANGES = 'tc:changes';

export interface MergeOutcome {
  ioc: Ioc;
  isNew: boolean;
  /** Reputation before the report; an IoC never seen counts as 80. */
  before: number;
  sightingId: string;
}

const ID_RANDOM_BYTES = 10;
const ID_POOL_SIZE = 256;

/**
 * Ids of IoCs and sightings: prefix, the creation time in milliseconds (12 hex digits), then
 * 80 random bits — 32 hex digits after the prefix like every other id. Time first, so a batch
 * of new IoCs lands at the end of every index keyed by id (the table's own, the analytics
 * index, reporters, sources, sightings) instead of on a hundred random pages each: a commit
 * then writes a fraction of the pages. The time is no secret (`firstSeen` and a sighting's
 * `timestamp` show it); the ids still tell nothing about how many there are.
 */
function createOrderedIds() {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return (prefix: string, epochMs: number): string => {
    if (offset + ID_RANDOM_BYTES > pool.length) {
      pool = randomBytes(ID_RANDOM_BYTES * ID_POOL_SIZE);
      offset = 0;
    }
    const random = pool.toString('hex', offset, offset + ID_RANDOM_BYTES);
    offset += ID_RANDOM_BYTES;
    return `${prefix}${epochMs.toString(16).padStart(12, '0')}${random}`;
  };
}

/** One map key per IoC of a batch (a type never holds a space). */
const batchKey = (type: IocType, value: string) => `${type} ${value}`;

/**
 * Rules of the IoC store: merging reports, reputation, status changes. Every write method
 * takes the transaction the caller opened (a batch is all-or-nothing), so the Manager can
 * merge its events (as the org's user or the one reporter `manager`, see reporters.ts) in its
 * own transaction. Each such transaction takes the lock TC_CHANGES: the merge reads IoCs and
 * then writes them, and change positions must be handed out by one writer at a time.
 */
export function createIocService(storage: Storage, clock: Clock, options: { countryOf?: CountryResolver } = {}) {
  const store = createIocStore(storage);
  const countryOf = options.countryOf ?? createCountryResolver();

  const factorsOf = (ioc: IocView, now: number): ReputationFactors => reputationFactors(reputationInputs(ioc, now));

  const newId = createOrderedIds();

  /** What the batch merges into: its IoCs as stored, read in one statement. */
  async function storedIocs(tx: Transaction, reports: readonly IocReport[]): Promise<Map<string, Ioc>> {
    const keys = new Map<string, IocKey>();
    for (const report of reports) keys.set(batchKey(report.type, report.value), [report.type, report.value]);
    const wanted = [...keys.values()];
    // One IoC (the Manager merges its events one by one): the plain unique-index read.
    const found = wanted.length === 1 ? [await store.find(tx, ...wanted[0]!)] : await store.findMany(tx, wanted);
    const stored = new Map<string, Ioc>();
    for (const ioc of found) if (ioc) stored.set(batchKey(ioc.type, ioc.value), ioc);
    return stored;
  }

  /**
   * Merges reports in order (the same IoC twice in a batch is merged twice, the second time
   * into what the first made). The batch's IoCs, and which of them the reporter reported
   * before, are read once, and its change positions taken at once; the merges happen in
   * memory, then every row is written in batches (`writeReports`: one round trip per table on
   * PostgreSQL instead of four statements per report). Each distinct source is recorded once.
   * In a transaction holding TC_CHANGES.
   */
  async function mergeReports(tx: Transaction, reports: readonly IocReport[], reporterId: string): Promise<MergeOutcome[]> {
    if (reports.length === 0) return [];
    const now = clock.now();
    const nowIso = toIso(now);
    const current = await storedIocs(tx, reports);
    const reported = await store.reportedBy(tx, reporterId, [...current.values()].map((ioc) => ioc.id));
    const firstSeq = await store.reserveSeqs(tx, reports.length, nowIso);
    for (const source of new Set(reports.map((report) => report.source))) await store.addKnownSource(tx, source, nowIso);
    const outcomes: MergeOutcome[] = [];
    const entries: ReportEntry[] = [];
    // In order: a report of an IoC the batch named before merges into what that one made.
    for (const [index, report] of reports.entries()) {
      const key = batchKey(report.type, report.value);
      const existing = current.get(key);
      const at = { now, nowIso, seq: firstSeq + index, sightingId: newId('sig_', now), context: report.context ? JSON.stringify(report.context) : null };
      const ioc = existing
        ? mergedIoc(existing, report, { ...at, newReporter: !reported.has(existing.id) }, countryOf)
        : newIoc(report, newId('ioc_', at.now), at, countryOf);
      reported.add(ioc.id);
      const sighting = { id: at.sightingId, kind: report.kind, context: at.context };
      entries.push({ ioc, isNew: !existing, reporterId, source: report.source, sighting, nowIso });
      current.set(key, ioc);
      outcomes.push({ ioc, isNew: !existing, before: existing ? existing.reputation : UNKNOWN_REPUTATION, sightingId: at.sightingId });
    }
    await store.writeReports(tx, entries);
    return outcomes;
  }

  return {
    store,

    mergeReports,

    /** One report (see mergeReports). In a transaction holding TC_CHANGES. */
    async mergeReport(tx: Transaction, report: IocReport, reporterId: string): Promise<MergeOutcome> {
      return (await mergeReports(tx, [report], reporterId))[0]!;
    },

    /** Sets an operator status; the IoC enters the change sequence so feeds change at once. In a transaction holding TC_CHANGES. */
    async setStatus(tx: Transaction, ioc: Ioc, status: Exclude<IocStatus, 'expired'>): Promise<Ioc> {
      const now = clock.now();
      const nowIso = toIso(now);
      const draft = { ...ioc, status, updatedAt: nowIso };
      const updated: Ioc = { ...draft, reputation: reputationFor(draft, now), changeSeq: await store.nextSeq(tx, nowIso) };
      await store.update(tx, updated);
      // STIX never un-revokes an id: an IoC active again is a new indicator.
      if (status === 'active' && isStixRevoked(ioc.status)) await store.addStixLineage(tx, ioc.id, endOfStixId(ioc, nowIso));
      return updated;
    },

    async relate(tx: Transaction, fromId: string, toId: string, relation: 'dropped' | 'contacted'): Promise<void> {
      await store.addRelation(tx, fromId, toId, relation, toIso(clock.now()));
    },

    factors(ioc: IocView): ReputationFactors {
      return factorsOf(ioc, clock.now());
    },

    /** The IoC as stored, read on its own (outside any transaction). */
    async find(type: IocType, value: string): Promise<Ioc | null> {
      return await store.find(storage, type, value);
    },

    /**
     * An IoC as a lookup shows it, and whether campaign membership and relations are worth
     * reading. Handed on, not awaited in an async wrapper: every lookup passes here, and the
     * wrapper was one more promise and microtask turn each.
     */
    lookup(type: IocType, value: string): Promise<LookupResult | null> {
      return store.lookup(type, value);
    },
  };
}
export type IocService = ReturnType<typeof createIocService>;
