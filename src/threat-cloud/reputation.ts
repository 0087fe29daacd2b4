import { DAY_MS } from '../shared/time.js';
import { type Severity } from '../shared/severity.js';
export { SEVERITIES, type Severity } from '../shared/severity.js';

export const SEVERITY_WEIGHT: Record<Severity, number> = { low: 30, medium: 55, high: 80, critical: 100 };

/** The reputation of an IP never seen before, as lookups and trap intel report it. */
export const UNKNOWN_REPUTATION = 80;
/** At or below this an IoC is on the default blocklists. */
export const DEFAULT_THRESHOLD = 30;
/** Days without a sighting after which an active IoC becomes `expired`. */
export const EXPIRY_DAYS = 90;

export interface ReputationFactors {
  sev: number;
  conf: number;
  reports: number;
  reporters: number;
  trap: boolean;
  days: number;
  corroboration: number;
}

export interface ReputationInput {
  severity: Severity;
  confidence: number;
  reports: number;
  reporters: number;
  trap: boolean;
  /** Days since lastSeen (fractional). */
  days: number;
}

/** Corroboration exactly as the contract defines it: one reporter alone is capped at 0.60. */
export function corroboration(reports: number, reporters: number, trap: boolean): number {
  const raw = Math.min(1, 0.45 + 0.15 * (reports - 1) + 0.2 * (reporters - 1) + (trap ? 0.25 : 0));
  return reporters <= 1 ? Math.min(raw, 0.6) : raw;
}

export function reputationFactors(input: ReputationInput): ReputationFactors {
  return {
    sev: SEVERITY_WEIGHT[input.severity],
    conf: input.confidence,
    reports: input.reports,
    reporters: input.reporters,
    trap: input.trap,
    days: Math.max(0, input.days),
    corroboration: corroboration(input.reports, input.reporters, input.trap),
  };
}

/** 0 = most malicious, 100 = benign. */
export function reputationOf(factors: ReputationFactors): number {
  const threat = factors.sev * (0.5 + 0.5 * factors.conf) * factors.corroboration * 0.5 ** (factors.days / 30);
  return Math.min(100, Math.max(0, Math.round(100 - threat)));
}

export function computeReputation(input: ReputationInput): number {
  return reputationOf(reputationFactors(input));
}

/**
 * The same formula as one SQL expression over an `iocs` row, for the decay refresh that
 * runs inside SQLite; `:now` is the refresh time as a Julian day number.
 */
export const REPUTATION_SQL = `
  min(100, max(0, round(100 -
    (CASE severity WHEN 'low' THEN 30 WHEN 'medium' THEN 55 WHEN 'high' THEN 80 ELSE 100 END)
    * (0.5 + 0.5 * confidence)
    * (CASE WHEN reporters <= 1
        THEN min(0.6, 0.45 + 0.15 * (sightings - 1) + 0.2 * (reporters - 1) + trap * 0.25)
        ELSE min(1, 0.45 + 0.15 * (sightings - 1) + 0.2 * (reporters - 1) + trap * 0.25) END)
    * pow(0.5, max(0, (:now - julianday(last_seen))) / 30)
  )))`;
