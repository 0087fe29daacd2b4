import { COMPARED_CONNECTIONS, type BenchRow, type Scenario } from './types.js';

const TARGET = 0.8;
const ROUND_SECONDS = 3;
/**
 * A `/health` round on the 2-core development machine swings 0.5–1.25 of the bare route's
 * round next to it (the ninth session's runs), more than the few per cent a kernel change
 * moves; nine rounds per service make the median depend less on one slow stretch of the host.
 */
const ROUNDS = 9;

/** /health of each service against the bare route: the kernel's hooks must be cheap. */
export const kernelScenario: Scenario = async (context) => {
  const rows: BenchRow[] = [];
  const services = [
    ['auth /health', `${context.urls.auth}/health`, false],
    ['manager /health (https)', `${context.urls.manager}/health`, true],
    ['threat-cloud /health', `${context.urls.threatCloud}/health`, false],
  ] as const;
  for (const [scenario, url, https] of services) {
    const { result, baseline, ratio, rounds } = await context.compare({ url, connections: COMPARED_CONNECTIONS, durationSeconds: ROUND_SECONDS }, { https }, ROUNDS);
    rows.push({
      scenario,
      perSecond: result.perSecond,
      unit: 'req/s',
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      ratio,
      target: `>= ${TARGET}`,
      met: ratio >= TARGET && result.non2xx === 0,
      note: `bare ${Math.round(baseline.perSecond)} req/s; ${rounds}${result.non2xx ? `; ${result.non2xx} non-2xx` : ''}`,
    });
  }
  // Not a target: the contract's response headers are most of what /health costs beyond the bare
  // route (README, "Eleventh session"). Against a bare route that sends them too, what is left
  // is the kernel's own cost: the request id, the child logger, the hooks and the envelope.
  const { result, baseline, ratio, rounds } = await context.compare(
    { url: `${context.urls.threatCloud}/health`, connections: COMPARED_CONNECTIONS, durationSeconds: ROUND_SECONDS },
    { https: false, path: '/with-headers' },
    ROUNDS,
  );
  rows.push({
    scenario: 'threat-cloud /health against a bare route with the same headers',
    perSecond: result.perSecond,
    unit: 'req/s',
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    ratio,
    note: `bare with headers ${Math.round(baseline.perSecond)} req/s; ${rounds}${result.non2xx ? `; ${result.non2xx} non-2xx` : ''}`,
  });
  return rows;
};
