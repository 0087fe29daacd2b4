import type { Clock } from '../shared/clock.js';
import { defineStatement, type Queryable, type Storage } from '../shared/db/storage.js';
import { createIocService, type IocReport } from '../threat-cloud/services/ioc-merge.js';
import type { Category } from '../threat-cloud/stores/iocs.js';
import { MANAGER_REPORTER, userReporter } from '../threat-cloud/reporters.js';
import type { Severity } from '../threat-cloud/reputation.js';
import type { IngestHook } from '../manager/services/events.js';
import { publicIpOrNull } from './public-ip.js';

/** The Threat Cloud category of a detection type; other types report no category. */
const CATEGORY_OF_EVENT: Readonly<Record<string, Category>> = {
  brute_force: 'bruteforce',
  port_scan: 'scanner',
  malware_detected: 'malware',
  exploit_attempt: 'exploit',
  c2_connection: 'c2',
};

const DEFAULT_CONFIDENCE = 0.5;

const IS_USER = defineStatement<[id: string], unknown>(`SELECT 1 FROM users WHERE id = ?`);

/**
 * Who an agent reports as (manager.md "Reporter identity"): an agent in a user's org is that
 * user, the same reporter as their Threat Cloud keys; every other agent is the operator's
 * fleet, one reporter whatever org it names, because org names are chosen by whoever
 * registers the agent and must not make one party count as many.
 */
async function fleetReporter(q: Queryable, orgId: string): Promise<string> {
  return (await q.get(IS_USER, [orgId])) === undefined ? MANAGER_REPORTER : userReporter(orgId);
}

/**
 * Fleet detections feed the intelligence: each event whose source is a public IP becomes a
 * Threat Cloud report from source `guard-agent`, merged inside the event batch's own
 * transaction — the IP is searchable the moment the batch is acknowledged, and a failed
 * batch reports nothing. The sighting keeps only the event type: event, agent and org ids
 * would show one tenant's fleet to every read key. The merge reads and writes IoCs and takes
 * change positions: the batch's transaction must hold TC_CHANGES (services/ioc-merge.ts).
 */
export function threatCloudReports(storage: Storage, clock: Clock): IngestHook {
  const iocs = createIocService(storage, clock);
  return async (tx, agent, rows) => {
    const reports: IocReport[] = [];
    for (const row of rows) {
      const ip = publicIpOrNull(row.source_ip);
      if (!ip) continue;
      reports.push({
        type: 'ip',
        value: ip,
        source: 'guard-agent',
        kind: 'upload',
        category: CATEGORY_OF_EVENT[row.type] ?? null,
        severity: row.severity as Severity,
        confidence: row.confidence ?? DEFAULT_CONFIDENCE,
        context: { type: row.type },
      });
    }
    // One merge for the batch: its IoCs are read in one statement and its change positions taken at once.
    if (reports.length > 0) await iocs.mergeReports(tx, reports, await fleetReporter(tx, agent.org_id));
  };
}
