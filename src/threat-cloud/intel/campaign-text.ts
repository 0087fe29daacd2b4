/**
 * Human text of a campaign, generated from its data: the name (fixed when the campaign
 * forms), the description (rewritten as it grows) and the recommendations (fixed texts per
 * category, so analysts see the same advice for the same kind of activity).
 */

const CATEGORY_LABELS: Record<string, string> = {
  malware: 'Malware',
  botnet: 'Botnet',
  phishing: 'Phishing',
  bruteforce: 'Brute-force',
  scanner: 'Scanning',
  exploit: 'Exploitation',
  c2: 'Command-and-control',
};

export const CATEGORY_RECOMMENDATIONS: Record<string, string> = {
  malware: 'Block the listed file hashes in endpoint protection and quarantine hosts where they were found.',
  botnet: 'Block traffic to and from the listed addresses and look for periodic beaconing from internal hosts.',
  phishing: 'Block the listed domains and URLs at the mail gateway and web proxy, and warn users about the lure.',
  bruteforce: 'Enforce multi-factor authentication and account lockout on exposed login services, and block the listed source addresses.',
  scanner: 'Close or filter exposed services that do not need to be public, and add the listed addresses to the perimeter blocklist.',
  exploit: 'Patch exposed services and review hosts that accepted connections from the listed addresses for signs of compromise.',
  c2: 'Block the listed command-and-control endpoints at the egress firewall and DNS resolver, and isolate hosts that contacted them.',
};

const TYPE_RECOMMENDATIONS: Record<string, string> = {
  domain: 'Sinkhole the listed domains at your DNS resolver (domain blocklist feed).',
  hash: 'Add the listed hashes to your EDR or antivirus deny list.',
  url: 'Block the listed URLs at the web proxy.',
};

const FEED_RECOMMENDATION = 'Subscribe firewalls and agents to the Threat Cloud feeds so that new members of this campaign are blocked automatically.';

export interface NameFacts {
  /** The most frequent category of the members, if any has one. */
  category: string | null;
  /** The network block most of the IP members share (label form), if at least two do. */
  netblock: string | null;
  /** The earliest member's value, the anchor when there is no shared block. */
  firstValue: string;
}

export function campaignName(facts: NameFacts): string {
  const label = facts.category ? (CATEGORY_LABELS[facts.category] ?? facts.category) : 'Threat';
  if (facts.netblock) return `${label} campaign from ${facts.netblock}`;
  const anchor = facts.firstValue.length > 48 ? `${facts.firstValue.slice(0, 45)}...` : facts.firstValue;
  return `${label} campaign around ${anchor}`;
}

export interface DescriptionFacts {
  iocCount: number;
  byType: Record<string, number>;
  affectedOrgs: number;
  firstSeen: string;
  lastActivity: string;
  categories: readonly string[];
  honeypotTypes: readonly string[];
}

export function campaignDescription(facts: DescriptionFacts): string {
  const types = Object.entries(facts.byType)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([type, n]) => `${n} ${type}`)
    .join(', ');
  const reporters = `${facts.affectedOrgs} reporter${facts.affectedOrgs === 1 ? '' : 's'}`;
  const parts = [
    `${facts.iocCount} related indicators (${types}) reported by ${reporters} between ${facts.firstSeen.slice(0, 10)} and ${facts.lastActivity.slice(0, 10)}.`,
  ];
  if (facts.categories.length > 0) parts.push(`Activity: ${facts.categories.join(', ')}.`);
  if (facts.honeypotTypes.length > 0) parts.push(`Observed by ${facts.honeypotTypes.join(', ')} honeypots.`);
  return parts.join(' ');
}

/** Fixed advice per member category, then per indicator type, then the feed subscription. */
export function campaignRecommendations(categories: readonly string[], types: readonly string[]): string[] {
  const advice = [
    ...categories.map((category) => CATEGORY_RECOMMENDATIONS[category]),
    ...types.map((type) => TYPE_RECOMMENDATIONS[type]),
  ].filter((text): text is string => text !== undefined);
  return [...new Set(advice), FEED_RECOMMENDATION];
}
