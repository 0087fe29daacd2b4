import { createHash } from 'node:crypto';
import { toIso } from '../shared/clock.js';
import type { StixChangeRow } from './stores/feeds.js';
import type { Category, Ioc, IocStatus } from './stores/iocs.js';
import { computeReputation, corroboration, SEVERITY_WEIGHT, type Severity } from './reputation.js';
import { DAY_MS } from '../shared/time.js';

/** RFC 4122 §4.3 name-based UUID (SHA-1): the same name always gives the same id. */
export function uuidV5(name: string, namespace: string): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replaceAll('-', ''), 'hex')).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Namespace of every id this service mints (fixed, so re-exports are stable). */
export const PANGUARD_STIX_NAMESPACE = '9f1c6d52-3b8e-5c4a-9e0d-7a2b1f4c8e61';
export const PANGUARD_IDENTITY_ID = `identity--${uuidV5('panguard-threat-cloud', PANGUARD_STIX_NAMESPACE)}`;

export interface StixSource {
  type: string;
  value: string;
  reputation: number;
  status: IocStatus;
  category: Category | null;
  firstSeen: string;
  lastSeen: string;
  /** When a write (report, status change, expiry, threshold crossing) last changed the IoC. */
  updatedAt: string;
  /** The reputation formula's inputs besides time: they date a score the decay refresh changed in place. */
  score: { severity: Severity; confidence: number; sightings: number; reporters: number; trap: boolean };
  /** Earlier STIX ids of the IoC, oldest first: each ended revoked and was followed by a re-activation. */
  lineage?: readonly StixLineageEntry[];
}

/** One earlier STIX id of an IoC: what its last (revoked) version exported, and when the next id began. */
export interface StixLineageEntry {
  /** `modified` of the last version. */
  revoked: string;
  confidence: number;
  category: Category | null;
  reactivated: string;
}

/** The lineage entry that ends the current id of a revoked IoC re-activated at `reactivatedAt`. */
export function endOfStixId(ioc: Ioc, reactivatedAt: string): StixLineageEntry {
  const source: StixSource = {
    ...ioc,
    score: { severity: ioc.severity, confidence: ioc.confidence, sightings: ioc.sightings, reporters: ioc.reporters, trap: ioc.trap },
  };
  return { revoked: toIso(lastWriteTime(source)), confidence: exportedConfidence(source), category: ioc.category, reactivated: reactivatedAt };
}

export function stixSourceOf(row: StixChangeRow): StixSource {
  return {
    type: row.type,
    value: row.value,
    reputation: row.reputation,
    status: row.status,
    category: row.category,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    updatedAt: row.updated_at,
    score: { severity: row.severity, confidence: row.confidence, sightings: row.sightings, reporters: row.reporters, trap: row.trap === 1 },
    lineage: JSON.parse(row.stix_lineage) as StixLineageEntry[],
  };
}

/** What the export depends on besides the IoC. */
export interface StixExport {
  /** The consumer's threshold: an active IoC above it is exported as no longer valid. */
  maxReputation?: number | undefined;
  /** Export time, epoch ms. */
  now: number;
}

/** STIX patterns quote with single quotes; backslash and quote are escaped (STIX 2.1 §9). */
function quote(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

const HASH_NAMES: Record<number, string> = { 32: 'MD5', 40: 'SHA-1', 64: 'SHA-256' };

/** The STIX pattern of an IoC, or null for types STIX indicators cannot express (CVE). */
export function stixPattern(type: string, value: string): string | null {
  switch (type) {
    case 'ip':
      return `[${value.includes(':') ? 'ipv6-addr' : 'ipv4-addr'}:value = ${quote(value)}]`;
    case 'domain':
      return `[domain-name:value = ${quote(value)}]`;
    case 'url':
      return `[url:value = ${quote(value)}]`;
    case 'email':
      return `[email-addr:value = ${quote(value)}]`;
    case 'hash': {
      const algorithm = HASH_NAMES[value.length];
      return algorithm ? `[file:hashes.'${algorithm}' = ${quote(value)}]` : null;
    }
    default:
      return null;
  }
}

/** A type alias, not an interface: the route's `Record<string, unknown>` schema needs the implicit index signature. */
export type StixIndicator = {
  type: 'indicator';
  spec_version: '2.1';
  id: string;
  created: string;
  modified: string;
  created_by_ref: string;
  revoked: boolean;
  name: string;
  indicator_types: string[];
  pattern: string;
  pattern_type: 'stix';
  valid_from: string;
  valid_until?: string;
  confidence: number;
  labels?: string[];
};

/**
 * When the decay first brought the IoC's score to `reputation`, epoch ms. The score is
 * round(100 − threat · 0.5^(days since lastSeen / 30)) and only rises with time, so it
 * reaches `reputation` once threat · 0.5^(days/30) ≤ reputation's lower rounding edge.
 */
function scoreReachedAt(ioc: StixSource, reputation: number): number {
  const { severity, confidence, sightings, reporters, trap } = ioc.score;
  const threat = SEVERITY_WEIGHT[severity] * (0.5 + 0.5 * confidence) * corroboration(sightings, reporters, trap);
  const days = 30 * Math.log2(threat / (100.5 - reputation));
  return Date.parse(ioc.lastSeen) + Math.ceil(Math.max(0, days) * DAY_MS);
}

/** Statuses STIX exports as `revoked: true`. */
export const isStixRevoked = (status: IocStatus) => status === 'whitelisted' || status === 'revoked';
const isRevoked = (ioc: StixSource) => isStixRevoked(ioc.status);

/** When the IoC was last written; a revoked IoC's indicator keeps it as `modified` (decay never moves it). */
export function lastWriteTime(ioc: Pick<StixSource, 'firstSeen' | 'updatedAt'>): number {
  return Math.max(Date.parse(ioc.firstSeen), Date.parse(ioc.updatedAt));
}

/**
 * The instant the exported state of the IoC began: its last write, or later, when the hourly
 * decay has since changed its score in place (that moves neither `updated_at` nor the change
 * sequence, yet changes `confidence`). Derived from the row alone, so every export of the
 * same state carries the same `modified`, and a changed state a later one. Revoked
 * indicators are not re-versioned by decay (see exportedReputation); an instant after `now`
 * means the stored score did not come from the formula, and then the write time stands.
 */
function versionTime(ioc: StixSource, now: number): number {
  const written = lastWriteTime(ioc);
  if (isRevoked(ioc)) return written;
  const decayed = scoreReachedAt(ioc, ioc.reputation);
  return decayed > written && decayed <= now ? decayed : written;
}

/**
 * The reputation behind `confidence`. STIX allows no new versions of a revoked object, so a
 * revoked IoC keeps the score it had at its last write (what the status change stored)
 * instead of following the decay; a whitelisted one is pinned at 100 anyway.
 */
function exportedReputation(ioc: StixSource): number {
  if (ioc.status !== 'revoked') return ioc.reputation;
  const { severity, confidence, sightings, reporters, trap } = ioc.score;
  const days = Math.max(0, (Date.parse(ioc.updatedAt) - Date.parse(ioc.lastSeen)) / DAY_MS);
  return computeReputation({ severity, confidence, reports: sightings, reporters, trap, days });
}

/**
 * Until when an IoC that left the export's set but may come back counts as valid: expiry
 * (a new sighting reactivates it) and a score above the consumer's threshold are not
 * revocations, which STIX makes permanent for an id. `valid_until` must follow `valid_from`.
 */
function validUntil(ioc: StixSource, view: StixExport): number | null {
  const aboveThreshold = ioc.status === 'active' && view.maxReputation !== undefined && ioc.reputation > view.maxReputation;
  if (ioc.status !== 'expired' && !aboveThreshold) return null;
  let until = Math.max(Date.parse(ioc.updatedAt), Date.parse(ioc.firstSeen) + 1);
  if (aboveThreshold) {
    const crossed = scoreReachedAt(ioc, view.maxReputation! + 1);
    if (crossed > until && crossed <= view.now) until = crossed;
  }
  return until;
}

const indicatorTypes = (category: Category | null) => [category === 'scanner' ? 'anomalous-activity' : 'malicious-activity'];
const labelsOf = (category: Category | null) => (category ? { labels: [category] } : {});
const exportedConfidence = (ioc: StixSource) => Math.max(0, Math.min(100, 100 - exportedReputation(ioc)));

/** The id of an IoC's indicator: from type and value, and which re-activation it is (0: none yet). */
function indicatorId(ioc: Pick<StixSource, 'type' | 'value'>, generation: number): string {
  const name = generation === 0 ? `${ioc.type}:${ioc.value}` : `${ioc.type}:${ioc.value}#${generation}`;
  return `indicator--${uuidV5(name, PANGUARD_STIX_NAMESPACE)}`;
}

/**
 * An IoC as STIX 2.1 indicators: its current one, after one revoked indicator per earlier
 * id (see migrations/013-stix-lineage.ts). An id depends only on type, value and generation,
 * `created` is the first sighting (or the re-activation that began the id), and `modified`
 * advances whenever anything exported here changes. Whitelisted and revoked IoCs are
 * exported as revoked. Earlier ids are exported exactly as their last version (stored when
 * the IoC became active again), as STIX allows no new version of a revoked object.
 */
export function toStixIndicators(ioc: StixSource, view: StixExport): StixIndicator[] {
  const pattern = stixPattern(ioc.type, ioc.value);
  if (!pattern) return [];
  const lineage = ioc.lineage ?? [];
  const common = {
    type: 'indicator' as const,
    spec_version: '2.1' as const,
    created_by_ref: PANGUARD_IDENTITY_ID,
    name: `${ioc.type} ${ioc.value}`.slice(0, 256),
    indicator_types: indicatorTypes(ioc.category),
    pattern,
    pattern_type: 'stix' as const,
    valid_from: ioc.firstSeen,
  };
  const createdOf = (generation: number) => (generation === 0 ? ioc.firstSeen : lineage[generation - 1]!.reactivated);
  const earlier = lineage.map((entry, generation): StixIndicator => ({
    ...common,
    indicator_types: indicatorTypes(entry.category),
    id: indicatorId(ioc, generation),
    created: createdOf(generation),
    modified: entry.revoked,
    revoked: true,
    confidence: entry.confidence,
    ...labelsOf(entry.category),
  }));
  const until = validUntil(ioc, view);
  const current: StixIndicator = {
    ...common,
    id: indicatorId(ioc, lineage.length),
    created: createdOf(lineage.length),
    // A re-activation is a write, so the current id's versions all follow its creation.
    modified: toIso(versionTime(ioc, view.now)),
    revoked: isRevoked(ioc),
    ...(until === null ? {} : { valid_until: toIso(until) }),
    confidence: exportedConfidence(ioc),
    ...labelsOf(ioc.category),
  };
  return [...earlier, current];
}

/**
 * The identity never changes, so it has one version with fixed timestamps: deriving them
 * from the data (say, the first indicator's) would re-version it from export to export.
 */
const IDENTITY_CREATED = '2026-01-01T00:00:00.000Z';

/** The identity every indicator names as its creator. */
export function panguardIdentity() {
  return {
    type: 'identity' as const,
    spec_version: '2.1' as const,
    id: PANGUARD_IDENTITY_ID,
    created: IDENTITY_CREATED,
    modified: IDENTITY_CREATED,
    name: 'Panguard Threat Cloud',
    identity_class: 'system',
  };
}

/** A bundle id that follows the content, so an unchanged export is byte-for-byte the same. */
export function stixBundleId(indicators: readonly StixIndicator[]): string {
  const versions = indicators.map((object) => `${object.id}@${object.modified}${object.revoked ? '!' : ''}${object.valid_until ? `<${object.valid_until}` : ''}`);
  return `bundle--${uuidV5(versions.join(','), PANGUARD_STIX_NAMESPACE)}`;
}
