import type { Clock } from '../shared/clock.js';
import type { Db } from '../shared/db/open.js';
import { createIocService } from '../threat-cloud/ioc-service.js';
import type { Category } from '../threat-cloud/ioc-store.js';
import { NormaliseError, normaliseIp } from '../threat-cloud/normalise.js';
import type { Severity } from '../threat-cloud/reputation.js';
import type { IngestHook } from './events-service.js';

/** The Threat Cloud category of a detection type; other types report no category. */
const CATEGORY_OF_EVENT: Readonly<Record<string, Category>> = {
  brute_force: 'bruteforce',
  port_scan: 'scanner',
  malware_detected: 'malware',
  exploit_attempt: 'exploit',
  c2_connection: 'c2',
};

const DEFAULT_CONFIDENCE = 0.5;

/** The normalised public address of an event's source, or null (absent, private, reserved). */
function publicSource(sourceIp: string | null): string | null {
  if (!sourceIp) return null;
  try {
    return normaliseIp(sourceIp);
  } catch (error) {
    if (error instanceof NormaliseError) return null;
    throw error;
  }
}

/**
 * Fleet detections feed the intelligence: each event whose source is a public IP becomes a
 * Threat Cloud report from source `guard-agent`, reporter `org:<org_id>`, merged inside the
 * event batch's own transaction — the IP is searchable the moment the batch is acknowledged,
 * and a failed batch reports nothing.
 */
export function threatCloudReports(db: Db, clock: Clock): IngestHook {
  const iocs = createIocService(db, clock);
  return (agent, rows) => {
    for (const row of rows) {
      const ip = publicSource(row.source_ip);
      if (!ip) continue;
      iocs.mergeReport(
        {
          type: 'ip',
          value: ip,
          source: 'guard-agent',
          kind: 'upload',
          category: CATEGORY_OF_EVENT[row.type] ?? null,
          severity: row.severity as Severity,
          confidence: row.confidence ?? DEFAULT_CONFIDENCE,
          context: { eventId: row.id, agentId: agent.id, type: row.type },
        },
        `org:${agent.org_id}`,
      );
    }
  };
}
