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

/**
 * REPUTATION_SQL in PostgreSQL's dialect, giving the same integer for every row. Each piece
 * copies what SQLite (and the JS formula) does, because PostgreSQL would otherwise differ:
 * - its decimal literals are exact numerics (0.15 * 3 is 0.45 there, 0.44999… as a double),
 *   so every literal is cast to float8 and the sums happen in doubles in SQLite's order;
 * - least/greatest stand for SQLite's scalar min/max;
 * - SQLite rounds as floor(x + 0.5) on the double and so does this; round(float8) would round
 *   halves to even, and round(CAST(x AS numeric)) first cuts the double to 15 digits, which
 *   turns 45.49999999999999 into 45.5;
 * - julianday(t) is SQLite's integer milliseconds since the Julian epoch (the Unix epoch at
 *   210866760000000) divided by 86400000.0, rebuilt here from the epoch milliseconds;
 * - PostgreSQL raises "underflow" where SQLite's doubles quietly reach 0: 0.5 × a confidence
 *   of 5e-324 is written 0.5 × (1 + confidence) (the same double: halving is exact), and the
 *   decay stops at 3,000 days (0.5^100: every score is 100 long before).
 */
export const REPUTATION_SQL_POSTGRES = `
  CAST(least(100, greatest(0, floor(CAST(100 AS float8) -
    (CASE severity WHEN 'low' THEN 30 WHEN 'medium' THEN 55 WHEN 'high' THEN 80 ELSE 100 END)
    * (CAST(0.5 AS float8) * (CAST(1 AS float8) + confidence))
    * (CASE WHEN reporters <= 1
        THEN least(CAST(0.6 AS float8), CAST(0.45 AS float8) + CAST(0.15 AS float8) * (sightings - 1) + CAST(0.2 AS float8) * (reporters - 1) + trap * CAST(0.25 AS float8))
        ELSE least(CAST(1 AS float8), CAST(0.45 AS float8) + CAST(0.15 AS float8) * (sightings - 1) + CAST(0.2 AS float8) * (reporters - 1) + trap * CAST(0.25 AS float8)) END)
    * power(CAST(0.5 AS float8), least(CAST(3000 AS float8), greatest(0, CAST(:now AS float8)
        - CAST(CAST(extract(epoch FROM CAST(last_seen AS timestamptz)) * 1000 AS bigint) + 210866760000000 AS float8) / CAST(86400000 AS float8))) / 30)
    + CAST(0.5 AS float8)))) AS bigint)`;
