import { DAY_MS } from '../../shared/time.js';
import type { CountryResolver } from '../geo.js';
import type { IocType } from '../normalise.js';
import { SEVERITIES, computeReputation, type ReputationInput, type Severity } from '../reputation.js';
import type { Category, Ioc, IocStatus, Metadata, ReportKind } from '../stores/iocs.js';

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

/** When a report is merged: the clock reading (both forms) and the IoC's change position. */
export interface MergeMoment {
  now: number;
  nowIso: string;
  seq: number;
}

const DEFAULT_SEVERITY: Severity = 'medium';
const DEFAULT_CONFIDENCE = 0.5;
/** Bounds growth of merged arrays and source lists over many re-uploads. */
const MAX_MERGED_ITEMS = 256;

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

function higherSeverity(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) >= SEVERITIES.indexOf(b) ? a : b;
}

const daysSince = (iso: string, now: number) => Math.max(0, (now - Date.parse(iso)) / DAY_MS);

/** What the reputation formula reads of an IoC, as of `now`. */
export function reputationInputs(ioc: Pick<Ioc, 'severity' | 'confidence' | 'sightings' | 'reporters' | 'trap' | 'lastSeen'>, now: number): ReputationInput {
  return {
    severity: ioc.severity,
    confidence: ioc.confidence,
    reports: ioc.sightings,
    reporters: ioc.reporters,
    trap: ioc.trap,
    days: daysSince(ioc.lastSeen, now),
  };
}

/** A whitelisted IoC is 100 (trusted) whatever was reported; any other status is scored. */
export function reputationFor(ioc: Pick<Ioc, 'status' | 'severity' | 'confidence' | 'sightings' | 'reporters' | 'trap' | 'lastSeen'>, now: number): number {
  return ioc.status === 'whitelisted' ? 100 : computeReputation(reputationInputs(ioc, now));
}

/**
 * The stored country: a two-letter `metadata.country` of the report when given, else the
 * one already stored, else GeoIP for IPs (looked up only then: it is the slow part).
 */
function countryFor(type: IocType, value: string, reported: Metadata, previous: string | null, countryOf: CountryResolver): string | null {
  const given = reported.country;
  if (typeof given === 'string' && /^[A-Za-z]{2}$/.test(given)) return given.toUpperCase();
  if (previous) return previous;
  return type === 'ip' ? countryOf(value) : null;
}

/** The row of an IoC first reported now: one sighting, one reporter, one source. */
export function newIoc(report: IocReport, id: string, at: MergeMoment, countryOf: CountryResolver): Ioc {
  const metadata = mergeMetadata({}, report.metadata);
  const country = countryFor(report.type, report.value, metadata, null, countryOf);
  if (country) metadata.country = country;
  const draft = {
    id,
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
  return { ...draft, reputation: reputationFor(draft, at.now), changeSeq: at.seq };
}

/**
 * A stored IoC after one more report. Severity and confidence only rise, the first category
 * stays, a trap mark stays; an expired IoC is active again, an operator's status (whitelisted,
 * revoked) stays. `newReporter` says whether this reporter had not reported it before.
 */
export function mergedIoc(existing: Ioc, report: IocReport, at: MergeMoment & { newReporter: boolean }, countryOf: CountryResolver): Ioc {
  const merged = mergeMetadata(existing.metadata, report.metadata);
  const country = countryFor(existing.type, existing.value, report.metadata ?? {}, existing.country, countryOf);
  // A copy when the country changes it: without new metadata `merged` is the stored IoC's own object.
  const metadata = country && merged.country !== country ? { ...merged, country } : merged;
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
    reporters: existing.reporters + (at.newReporter ? 1 : 0),
    trap: existing.trap || report.trap === true,
    sources,
    metadata,
    country,
    lastSeen: at.nowIso,
    updatedAt: at.nowIso,
  };
  return { ...draft, reputation: reputationFor(draft, at.now), changeSeq: at.seq };
}
