import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { createCountryResolver, type CountryResolver } from '../geo.js';
import { createIocStore, type Ioc, type IocKey, type IocStatus, type IocView, type LookupResult } from '../stores/iocs.js';
import type { IocType } from '../normalise.js';
import { endOfStixId, isStixRevoked } from '../stix.js';
import { UNKNOWN_REPUTATION, reputationFactors, type ReputationFactors } from '../reputation.js';
import { mergedIoc, newIoc, reputationFor, reputationInputs, type IocReport, type MergeMoment } from './ioc-builders.js';

export type { IocReport } from './ioc-builders.js';

export interface MergeOutcome {
  ioc: Ioc;
  isNew: boolean;
  /** Reputation before the report; an IoC never seen counts as 80. */
  before: number;
  sightingId: string;
}

/** A report's moment, with the id and context of the sighting it writes. */
type ReportMoment = MergeMoment & { sightingId: string; context: string | null };

export class NotInTransactionError extends Error {
  override name = 'NotInTransactionError';
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
 * must run inside a transaction the caller opens (a batch is all-or-nothing), so the Manager
 * can merge its events (as the org's user or the one reporter `manager`, see reporters.ts) in
 * its own transaction.
 */
export function createIocService(db: Db, clock: Clock, options: { countryOf?: CountryResolver } = {}) {
  const store = createIocStore(db);
  const countryOf = options.countryOf ?? createCountryResolver();

  const requireTransaction = () => {
    if (!db.inTransaction) throw new NotInTransactionError('IoC writes must run inside a transaction');
  };

  const factorsOf = (ioc: IocView, now: number): ReputationFactors => reputationFactors(reputationInputs(ioc, now));

  const newId = createOrderedIds();

  /** What the batch merges into: its IoCs as stored, read in one statement. */
  function storedIocs(reports: readonly IocReport[]): Map<string, Ioc> {
    const keys = new Map<string, IocKey>();
    for (const report of reports) keys.set(batchKey(report.type, report.value), [report.type, report.value]);
    const wanted = [...keys.values()];
    // One IoC (the Manager merges its events one by one): the plain unique-index read.
    const found = wanted.length === 1 ? [store.find(...wanted[0]!)] : store.findMany(wanted);
    const stored = new Map<string, Ioc>();
    for (const ioc of found) if (ioc) stored.set(batchKey(ioc.type, ioc.value), ioc);
    return stored;
  }

  /** Stores a report's IoC row, reporter, source and sighting, as the builders made it. */
  function createIoc(report: IocReport, reporterId: string, at: ReportMoment): MergeOutcome {
    const ioc = newIoc(report, newId('ioc_', at.now), at, countryOf);
    store.insert(ioc);
    store.addReporter(ioc.id, reporterId, at.nowIso);
    store.addIocSource(ioc.id, report.source);
    store.addSighting(at.sightingId, ioc.id, report.kind, report.source, reporterId, at.context, at.nowIso);
    return { ioc, isNew: true, before: UNKNOWN_REPUTATION, sightingId: at.sightingId };
  }

  function mergeInto(existing: Ioc, report: IocReport, reporterId: string, at: ReportMoment): MergeOutcome {
    const newReporter = store.addReporter(existing.id, reporterId, at.nowIso);
    const ioc = mergedIoc(existing, report, { ...at, newReporter }, countryOf);
    store.update(ioc);
    store.addIocSource(ioc.id, report.source);
    store.addSighting(at.sightingId, ioc.id, report.kind, report.source, reporterId, at.context, at.nowIso);
    return { ioc, isNew: false, before: existing.reputation, sightingId: at.sightingId };
  }

  /**
   * Merges reports in order (the same IoC twice in a batch is merged twice, the second time
   * into what the first made). The batch's IoCs are read once and its change positions
   * taken at once; each report then writes its IoC row, reporter, source and sighting, and
   * each distinct source is recorded once. In a transaction.
   */
  function mergeReports(reports: readonly IocReport[], reporterId: string): MergeOutcome[] {
    requireTransaction();
    if (reports.length === 0) return [];
    const now = clock.now();
    const nowIso = toIso(now);
    const current = storedIocs(reports);
    const firstSeq = store.reserveSeqs(reports.length, nowIso);
    for (const source of new Set(reports.map((report) => report.source))) store.addKnownSource(source, nowIso);
    return reports.map((report, index) => {
      const key = batchKey(report.type, report.value);
      const existing = current.get(key);
      const at = { now, nowIso, seq: firstSeq + index, sightingId: newId('sig_', now), context: report.context ? JSON.stringify(report.context) : null };
      const outcome = existing ? mergeInto(existing, report, reporterId, at) : createIoc(report, reporterId, at);
      current.set(key, outcome.ioc);
      return outcome;
    });
  }

  return {
    store,

    mergeReports,

    /** One report (see mergeReports). In a transaction. */
    mergeReport(report: IocReport, reporterId: string): MergeOutcome {
      return mergeReports([report], reporterId)[0]!;
    },

    /** Sets an operator status; the IoC enters the change sequence so feeds change at once. In a transaction. */
    setStatus(ioc: Ioc, status: Exclude<IocStatus, 'expired'>): Ioc {
      requireTransaction();
      const now = clock.now();
      const nowIso = toIso(now);
      const draft = { ...ioc, status, updatedAt: nowIso };
      const updated: Ioc = { ...draft, reputation: reputationFor(draft, now), changeSeq: store.nextSeq(nowIso) };
      store.update(updated);
      // STIX never un-revokes an id: an IoC active again is a new indicator.
      if (status === 'active' && isStixRevoked(ioc.status)) store.addStixLineage(ioc.id, endOfStixId(ioc, nowIso));
      return updated;
    },

    relate(fromId: string, toId: string, relation: 'dropped' | 'contacted'): void {
      requireTransaction();
      store.addRelation(fromId, toId, relation, toIso(clock.now()));
    },

    factors(ioc: IocView): ReputationFactors {
      return factorsOf(ioc, clock.now());
    },

    find(type: IocType, value: string): Ioc | null {
      return store.find(type, value);
    },

    /** An IoC as a lookup shows it, and whether campaign membership and relations are worth reading. */
    lookup(type: IocType, value: string): LookupResult | null {
      return store.lookup(type, value);
    },
  };
}
export type IocService = ReturnType<typeof createIocService>;
