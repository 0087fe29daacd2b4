import type { BenchRow, Scenario } from './types.js';

const TARGET = 0.8;

/** /health of each service against the bare route: the kernel's hooks must be cheap. */
export const kernelScenario: Scenario = async (context) => {
  const rows: BenchRow[] = [];
  const services = [
    ['auth /health', `${context.urls.auth}/health`, false],
    ['manager /health (https)', `${context.urls.manager}/health`, true],
    ['threat-cloud /health', `${context.urls.threatCloud}/health`, false],
  ] as const;
  for (const [scenario, url, https] of services) {
    const baseline = await context.baseline(https);
    const result = await context.load({ url });
    const ratio = result.perSecond / baseline.perSecond;
    rows.push({
      scenario,
      perSecond: result.perSecond,
      unit: 'req/s',
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      ratio,
      target: `>= ${TARGET}`,
      met: ratio >= TARGET && result.non2xx === 0,
      note: `bare ${Math.round(baseline.perSecond)} req/s${result.non2xx ? `; ${result.non2xx} non-2xx` : ''}`,
    });
  }
  return rows;
};
