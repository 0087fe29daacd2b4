import { createHash } from 'node:crypto';

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
  category: string | null;
  firstSeen: string;
  updatedAt: string;
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

export interface StixIndicator {
  type: 'indicator';
  spec_version: '2.1';
  id: string;
  created: string;
  modified: string;
  created_by_ref: string;
  name: string;
  indicator_types: string[];
  pattern: string;
  pattern_type: 'stix';
  valid_from: string;
  confidence: number;
  labels?: string[];
}

/** One IoC as a STIX 2.1 indicator; the id depends only on type and value. */
export function toStixIndicator(ioc: StixSource): StixIndicator | null {
  const pattern = stixPattern(ioc.type, ioc.value);
  if (!pattern) return null;
  return {
    type: 'indicator',
    spec_version: '2.1',
    id: `indicator--${uuidV5(`${ioc.type}:${ioc.value}`, PANGUARD_STIX_NAMESPACE)}`,
    created: ioc.firstSeen,
    modified: ioc.updatedAt,
    created_by_ref: PANGUARD_IDENTITY_ID,
    name: `${ioc.type} ${ioc.value}`.slice(0, 256),
    indicator_types: [ioc.category === 'scanner' ? 'anomalous-activity' : 'malicious-activity'],
    pattern,
    pattern_type: 'stix',
    valid_from: ioc.firstSeen,
    confidence: Math.max(0, Math.min(100, 100 - ioc.reputation)),
    ...(ioc.category ? { labels: [ioc.category] } : {}),
  };
}

/** The identity every indicator names as its creator. */
export function panguardIdentity(created: string) {
  return {
    type: 'identity' as const,
    spec_version: '2.1' as const,
    id: PANGUARD_IDENTITY_ID,
    created,
    modified: created,
    name: 'Panguard Threat Cloud',
    identity_class: 'system',
  };
}
