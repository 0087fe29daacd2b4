import type { Clients } from '../clients.js';
import { check, expectStatus } from '../check.js';
import type { SmokeOptions } from '../options.js';
import { need } from '../run-state.js';
import { bearer, type Step } from './step.js';

const FEED_PAGES_MAX = 50;

/**
 * The intelligence steps. The agent above (one reporter) and this key (another) both report
 * the run's IP, so it is corroborated and must reach the default blocklist (reputation ≤ 30).
 */
export function threatCloudSteps({ threatCloud }: Clients, options: SmokeOptions): Step[] {
  const key = () => {
    check(options.tcKey !== null, 'no Threat Cloud key: pass --tc-key or set PANGUARD_SMOKE_TC_KEY (read and write scopes)');
    return bearer(options.tcKey);
  };
  return [
    {
      name: 'upload IoCs',
      async run(state) {
        const { iocIp, iocDomain } = state.names;
        const source = 'panguard-smoke-test';
        const threats = [
          { type: 'ip' as const, value: iocIp, source, category: 'bruteforce' as const, severity: 'critical' as const, confidence: 1 },
          { type: 'domain' as const, value: iocDomain, source, category: 'phishing' as const, severity: 'low' as const, confidence: 0.5 },
        ];
        const body = expectStatus(await threatCloud.POST('/api/threats', { headers: key(), body: { threats } }), 201, 'IoC upload');
        check(body.data.received === 2 && body.data.iocIds.length === 2, `expected 2 IoCs received, got ${body.data.received}`);
        check(body.data.new + body.data.updated === 2, `expected 2 IoCs stored, got ${body.data.new} new and ${body.data.updated} updated`);
        state.iocsUploaded = true;
      },
    },
    {
      name: 'look up IoC',
      async run(state) {
        const { iocIp } = state.names;
        const result = await threatCloud.GET('/api/iocs/{value}', { params: { path: { value: iocIp } }, headers: key() });
        const ioc = expectStatus(result, 200, 'IoC lookup').data;
        check(ioc.value === iocIp && ioc.type === 'ip', `expected ${iocIp} (ip), got ${ioc.value} (${ioc.type})`);
        check(ioc.status === 'active', `expected the uploaded IoC to be active, got ${ioc.status}`);
        const reporters = ioc.reputationFactors?.reporters ?? 0;
        check(reporters >= 2, `expected the agent and the key as 2 reporters, got ${reporters}`);
        check(ioc.reputation <= 30, `expected a corroborated critical IoC at reputation ≤ 30, got ${ioc.reputation}`);
        state.iocFirstSeen = need(ioc.firstSeen, 'firstSeen');
      },
    },
    {
      name: 'read ip-blocklist',
      async run(state) {
        const result = await threatCloud.GET('/api/feeds/ip-blocklist', { headers: key(), parseAs: 'text' });
        const text = expectStatus(result, 200, 'the IP blocklist');
        const type = result.response.headers.get('content-type') ?? '';
        check(type.startsWith('text/plain'), `expected text/plain, got ${type}`);
        const lines = text.split('\n');
        check(lines[0] === '# Panguard AI IP Blocklist', `expected the blocklist header, got "${lines[0] ?? ''}"`);
        check(lines.includes(state.names.iocIp), `expected ${state.names.iocIp} on the blocklist (${lines.length} lines)`);
      },
    },
    {
      name: 'read JSON feed',
      async run(state) {
        const { iocIp } = state.names;
        // From a second before the IoC appeared, in the server's own clock.
        const since = new Date(Date.parse(need(state.iocFirstSeen, 'firstSeen')) - 1000).toISOString();
        let cursor: string | undefined;
        for (let page = 0; page < FEED_PAGES_MAX; page++) {
          const query = cursor === undefined ? { since, type: 'ip' as const } : { cursor, type: 'ip' as const };
          const result = await threatCloud.GET('/api/feeds/iocs', { params: { query }, headers: key() });
          const feed = expectStatus(result, 200, 'the JSON feed').data;
          const item = feed.iocs.find((ioc) => ioc.value === iocIp);
          if (item) {
            check(item.type === 'ip' && item.category === 'bruteforce', `expected ${iocIp} as a bruteforce ip, got ${item.type} ${item.category ?? 'none'}`);
            return;
          }
          check(feed.count > 0, `expected ${iocIp} in the feed's changes since ${since}`);
          cursor = feed.nextCursor;
        }
        check(false, `expected ${iocIp} within ${FEED_PAGES_MAX} pages of the feed`);
      },
    },
  ];
}
