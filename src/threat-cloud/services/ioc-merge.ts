import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { createCountryResolver, type CountryResolver } from '../geo.js';
import { createIocStore, type Category, type Ioc, type IocKey, type IocStatus, type IocView, type LookupResult, type Metadata, type ReportKind } from '../stores/iocs.js';
import type { IocType } from '../normalise.js';
import { endOfStixId, isStixRevoked } from '../stix.js';
import { SEVERITIES, UNKNOWN_REPUTATION, computeReputation, reputationFactors, type ReputationFactors, type Severity } from '../reputation.js';
import { DAY_MS } from '../../shared/time.js';

/** One report of an IoC; `value` is already normalised for its `type`. */
export interface IocReport {
  type: IocType;
  value: string;
  source: string;
  kind: ReportKind;
  category?: Category | null;
  /** Absent on a plain sighting: the IoC keeps what it has. */
  severity?: Severity;
  confidence?: number;
  metadata?: Metadata;
  /** Honeypot intel named it. */
  trap?: boolean;
  /** Stored with the sighting (JSON). */
  context?: Record<string, unknown>;
}

export interface MergeOutcome {
  ioc: Ioc;
  isNew: boolean;
  /** Reputation before the report; an IoC never seen counts as 80. */
  before: number;
  sightingId: string;
}

const DEFAULT_SEVERITY: Severity = 'medium';
const DEFAULT_CONFIDENCE = 0.5;
/** Bounds growth of merged arrays and source lists over many re-uploads. */
const MAX_MERGED_ITEMS = 256;

export class NotInTransactionError extends Error {
  override name = 'NotInTransactionError';
}

/** Arrays are unioned (by JSON identity), anything else takes the newer value. */
export function mergeMetadata(current: Metadata, incoming: Metadata | undefined): Metadata {
  if (!incoming) return current;
  const merged: Metadata = { ...current };
  for (const [key, value] of Object.entries(incoming)) {
    const previous = merged[key];
    if (Array.isArray(previous) && Array.isArray(value)) {
      const seen = new Set(previous.map((item) => JSON.stringify(item)));
      const union = [...previous];
      for (const item of value) {
        const id = JSON.stringify(item);
        if (!seen.has(id) && union.length < MAX_MERGED_ITEMS) {
          seen.add(id);
          union.push(item);
        }
      }
      merged[key] = union;
    } else {
      merged[key] = value;
    }
  }
  return merged;
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

function higherSeverity(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) >= SEVERITIES.indexOf(b) ? a : b;
}

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

  const daysSince = (iso: string, now: number) => Math.max(0, (now - Date.parse(iso)) / DAY_MS);

  /** What the reputation formula reads of an IoC, as of `now`. */
  const inputsOf = (ioc: Pick<Ioc, 'severity' | 'confidence' | 'sightings' | 'reporters' | 'trap' | 'lastSeen'>, now: number) => ({
    severity: ioc.severity,
    confidence: ioc.confidence,
    reports: ioc.sightings,
    reporters: ioc.reporters,
    trap: ioc.trap,
    days: daysSince(ioc.lastSeen, now),
  });

  const factorsOf = (ioc: IocView, now: number): ReputationFactors => reputationFactors(inputsOf(ioc, now));

  const reputationFor = (ioc: Pick<Ioc, 'status' | 'severity' | 'confidence' | 'sightings' | 'reporters' | 'trap' | 'lastSeen'>, now: number) =>
    ioc.status === 'whitelisted' ? 100 : computeReputation(inputsOf(ioc, now));

  /** The stored country: `metadata.country` when given, else GeoIP for IPs. */
  const countryFor = (type: IocType, value: string, metadata: Metadata, previous: string | null): string | null => {
    const given = metadata.country;
    if (typeof given === 'string' && /^[A-Za-z]{2}$/.test(given)) return given.toUpperCase();
    if (previous) return previous;
    return type === 'ip' ? countryOf(value) : null;
  };

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

  function createIoc(report: IocReport, reporterId: string, at: { now: number; nowIso: string; seq: number; sightingId: string; context: string | null }): MergeOutcome {
    const metadata = mergeMetadata({}, report.metadata);
    const country = countryFor(report.type, report.value, metadata, null);
    if (country) metadata.country = country;
    const draft = {
      id: newId('ioc_', at.now),
      type: report.type,
      value: report.value,
      status: 'active' as IocStatus,
      category: report.category ?? null,
      severity: report.severity ?? DEFAULT_SEVERITY,
      confidence: report.confidence ?? DEFAULT_CONFIDENCE,
      sightings: 1,
      reporters: 1,
      trap: report.trap === true,
      source: report.source,
      sources: [report.source],
      metadata,
      country,
      firstSeen: at.nowIso,
      lastSeen: at.nowIso,
      updatedAt: at.nowIso,
    };
    const ioc: Ioc = { ...draft, reputation: reputationFor(draft, at.now), changeSeq: at.seq };
    store.insert(ioc);
    store.addReporter(ioc.id, reporterId, at.nowIso);
    store.addIocSource(ioc.id, report.source);
    store.addSighting(at.sightingId, ioc.id, report.kind, report.source, reporterId, at.context, at.nowIso);
    return { ioc, isNew: true, before: UNKNOWN_REPUTATION, sightingId: at.sightingId };
  }

  function mergeInto(existing: Ioc, report: IocReport, reporterId: string, at: { now: number; nowIso: string; seq: number; sightingId: string; context: string | null }): MergeOutcome {
    const newReporter = store.addReporter(existing.id, reporterId, at.nowIso);
    const metadata = mergeMetadata(existing.metadata, report.metadata);
    const country = countryFor(existing.type, existing.value, report.metadata ?? {}, existing.country);
    if (country) metadata.country = country;
    const sources = existing.sources.includes(report.source) || existing.sources.length >= MAX_MERGED_ITEMS
      ? existing.sources
      : [...existing.sources, report.source];
    const draft = {
      ...existing,
      status: existing.status === 'expired' ? ('active' as IocStatus) : existing.status,
      category: existing.category ?? report.category ?? null,
      severity: report.severity ? higherSeverity(existing.severity, report.severity) : existing.severity,
      confidence: report.confidence === undefined ? existing.confidence : Math.max(existing.confidence, report.confidence),
      sightings: existing.sightings + 1,
      reporters: existing.reporters + (newReporter ? 1 : 0),
      trap: existing.trap || report.trap === true,
      sources,
      metadata,
      country,
      lastSeen: at.nowIso,
      updatedAt: at.nowIso,
    };
    const ioc: Ioc = { ...draft, reputation: reputationFor(draft, at.now), changeSeq: at.seq };
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
