import type { BenchContext, BenchRow, Scenario } from './types.js';

const CATEGORIES = ['malware', 'botnet', 'phishing', 'bruteforce', 'scanner', 'exploit', 'c2'];
const COUNTRIES = ['US', 'DE', 'NL', 'FR', 'CN', 'RU', 'BR', 'IN', 'JP', 'GB'];
const TECHNIQUES = ['T1110', 'T1046', 'T1059', 'T1078', 'T1190', 'T1071', 'T1566', 'T1486'];
/** IoCs uploaded before measuring: enough that the analytics aggregate real volumes. */
const SEED_IOCS = 10_000;
const TRAP_REPORTS = 100;
/** The background correlation looks for new reports every 15 s; give it time to catch up. */
const SETTLE_TIMEOUT_MS = 30_000;

async function send(context: BenchContext, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${context.urls.threatCloud}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${context.secrets.tcApiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
}

/** Public IPs (45.0.0.0/8) in /24s of 250 hosts, so the netblock rule has groups to find. */
function ip(n: number): string {
  const block = Math.floor(n / 250);
  return `45.${block >> 8}.${block & 255}.${(n % 250) + 1}`;
}

async function seed(context: BenchContext): Promise<void> {
  for (let start = 0; start < SEED_IOCS; start += 100) {
    const threats = Array.from({ length: 100 }, (_, i) => {
      const n = start + i;
      return {
        type: 'ip',
        value: ip(n),
        source: 'bench',
        category: CATEGORIES[Math.floor(n / 250) % CATEGORIES.length],
        severity: 'high',
        metadata: { country: COUNTRIES[n % COUNTRIES.length], mitreIds: [TECHNIQUES[n % TECHNIQUES.length]] },
      };
    });
    await send(context, '/api/threats', { threats });
  }
  for (let n = 0; n < TRAP_REPORTS; n++) {
    const hash = (k: number) => (n * 4 + k).toString(16).padStart(64, '0');
    await send(context, '/api/trap-intel', { trapId: 'bench', attackerIp: `203.0.113.${(n % 250) + 1}`, honeypotType: 'ssh', payloads: [hash(0), hash(1)] });
  }
}

async function campaignTotal(context: BenchContext): Promise<number> {
  const res = await fetch(`${context.urls.threatCloud}/api/campaigns/stats`, { headers: { authorization: `Bearer ${context.secrets.tcApiKey}` } });
  return ((await res.json()) as { data: { totalCampaigns: number } }).data.totalCampaigns;
}

/** Waits until the background correlation has formed campaigns and stopped changing their number; returns seconds waited. */
async function settle(context: BenchContext): Promise<number> {
  const started = Date.now();
  let previous = -1;
  for (;;) {
    const total = await campaignTotal(context);
    if ((total > 0 && total === previous) || Date.now() - started > SETTLE_TIMEOUT_MS) return (Date.now() - started) / 1000;
    previous = total;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/**
 * Campaigns and analytics: read throughput and latency of the campaign list and
 * of each /api/query/* aggregate over 10,000 IoCs and 100 trap reports, once the background
 * correlation has caught up. Aggregates are SQL memoised per second and data version, so p99
 * shows the cost of the one recomputation per second that requests queue behind.
 */
export const intelScenario: Scenario = async (context) => {
  const seeded = Date.now();
  await seed(context);
  const seedSeconds = (Date.now() - seeded) / 1000;
  const settleSeconds = await settle(context);
  const campaigns = await campaignTotal(context);
  const headers = { authorization: `Bearer ${context.secrets.tcApiKey}` };
  const endpoints: Array<[string, string]> = [
    ['campaigns list', '/api/campaigns?limit=20'],
    ['campaign stats', '/api/campaigns/stats'],
    ['query timeseries (hour, 7d)', '/api/query/timeseries?granularity=hour&period=7d'],
    ['query geo (30d)', '/api/query/geo?period=30d'],
    ['query trends (7d)', '/api/query/trends'],
    ['query mitre-heatmap (30d)', '/api/query/mitre-heatmap?period=30d'],
  ];
  const rows: BenchRow[] = [
    { scenario: 'intel: seed uploads (100-IoC batches)', perSecond: SEED_IOCS / seedSeconds, unit: 'iocs/s', note: `then ${campaigns} campaigns within ${settleSeconds.toFixed(0)} s of the last upload` },
  ];
  for (const [name, path] of endpoints) {
    const result = await context.load({ url: `${context.urls.threatCloud}${path}`, headers, durationSeconds: 3 });
    rows.push({
      scenario: `intel: ${name}`,
      perSecond: result.perSecond,
      unit: 'req/s',
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      note: `whole database + ${SEED_IOCS} uploaded IoCs${result.errors + result.non2xx > 0 ? `, ${result.errors} errors, ${result.non2xx} non-2xx` : ''}`,
    });
  }
  return rows;
};
