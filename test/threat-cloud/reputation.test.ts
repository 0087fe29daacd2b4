import t from 'tap';
import fc from 'fast-check';
import { computeReputation, corroboration, SEVERITIES, type ReputationInput } from '../../src/threat-cloud/reputation.js';
import { DAY_MS } from '../../src/shared/time.js';
import { createReputationRefresh } from '../../src/threat-cloud/jobs/refresh.js';
import { createReputationRefreshStore } from '../../src/threat-cloud/stores/reputation-refresh.js';
import { createIocService, TC_CHANGES } from '../../src/threat-cloud/services/ioc-merge.js';
import { ManualClock } from '../../src/shared/clock.js';
import { bareStorageOn, onBothEngines, selectRows } from './fixtures.js';

const input = fc.record({
  severity: fc.constantFrom(...SEVERITIES),
  confidence: fc.double({ min: 0, max: 1, noNaN: true }),
  reports: fc.integer({ min: 1, max: 10_000 }),
  reporters: fc.integer({ min: 1, max: 1_000 }),
  trap: fc.boolean(),
  days: fc.double({ min: 0, max: 400, noNaN: true }),
});

t.test('the contract formula on worked examples', async (t) => {
  // critical, conf 1, one report, one reporter: corroboration 0.45 → threat 45 → 55.
  t.equal(computeReputation({ severity: 'critical', confidence: 1, reports: 1, reporters: 1, trap: false, days: 0 }), 55);
  // one reporter with trap and many reports is capped at 0.60 → threat 60 → 40.
  t.equal(computeReputation({ severity: 'critical', confidence: 1, reports: 50, reporters: 1, trap: true, days: 0 }), 40);
  // two reporters, two reports, critical, conf 1: 0.45 + 0.15 + 0.20 = 0.80 → 20.
  t.equal(computeReputation({ severity: 'critical', confidence: 1, reports: 2, reporters: 2, trap: false, days: 0 }), 20);
  // 30 days halve the threat: 80·1·0.8·0.5 = 32 → 68.
  t.equal(computeReputation({ severity: 'high', confidence: 1, reports: 2, reporters: 2, trap: false, days: 30 }), 68);
  // medium, conf 0.5: 55·0.75·0.45 = 18.5625 → 81.
  t.equal(computeReputation({ severity: 'medium', confidence: 0.5, reports: 1, reporters: 1, trap: false, days: 0 }), 81);
  t.equal(corroboration(1, 1, true), 0.6);
  t.equal(corroboration(10, 5, true), 1);
});

t.test('property: reputation stays within 0..100', async (t) => {
  fc.assert(fc.property(input, (i) => {
    const r = computeReputation(i);
    return Number.isInteger(r) && r >= 0 && r <= 100;
  }), { numRuns: 2000 });
  t.pass();
});

t.test('property: more reports, more reporters, higher severity never raise reputation', async (t) => {
  fc.assert(fc.property(input, fc.integer({ min: 1, max: 50 }), (i: ReputationInput, extra) => {
    const base = computeReputation(i);
    const moreReports = computeReputation({ ...i, reports: i.reports + extra });
    const moreReporters = computeReputation({ ...i, reporters: i.reporters + extra, reports: Math.max(i.reports, i.reporters + extra) });
    const sevIndex = SEVERITIES.indexOf(i.severity);
    const higher = computeReputation({ ...i, severity: SEVERITIES[Math.min(3, sevIndex + 1)]! });
    const withTrap = computeReputation({ ...i, trap: true });
    return moreReports <= base && moreReporters <= base && higher <= base && withTrap <= base;
  }), { numRuns: 2000 });
  t.pass();
});

t.test('property: one reporter and no trap never reaches the blocklist (> 30), nor one reporter with trap', async (t) => {
  fc.assert(fc.property(input, (i) => computeReputation({ ...i, reporters: 1, trap: false }) > 30 && computeReputation({ ...i, reporters: 1, trap: true }) > 30), { numRuns: 2000 });
  t.pass();
});

t.test('property: decay only raises reputation over time', async (t) => {
  fc.assert(fc.property(input, fc.double({ min: 0, max: 100, noNaN: true }), (i, later) => computeReputation({ ...i, days: i.days + later }) >= computeReputation(i)), { numRuns: 1000 });
  t.pass();
});

onBothEngines('the SQL refresh computes the same scores as the JS formula', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock();
  const service = createIocService(storage, clock, { countryOf: () => null });
  const samples = fc.sample(input, { numRuns: 200, seed: 7 });
  await storage.transaction({ durable: false, locks: [TC_CHANGES] }, async (tx) => {
    for (const [index, sample] of samples.entries()) {
      const value = `198.51.100.${index % 250}`;
      const type = index < 250 ? 'ip' : 'domain';
      await service.mergeReports(tx, [{ type, value: type === 'ip' ? value : `d${index}.example`, source: 's', kind: 'upload', severity: sample.severity, confidence: sample.confidence }], `r${index % 3}`);
    }
  });
  clock.advance(17.3 * DAY_MS);
  await createReputationRefresh({ storage, iocs: createReputationRefreshStore(storage), clock }).run();
  const rows = await selectRows<{ severity: 'low'; confidence: number; sightings: number; reporters: number; trap: number; last_seen: string; reputation: number }>(
    storage,
    `SELECT severity, confidence, sightings, reporters, trap, last_seen, reputation FROM iocs`,
  );
  t.ok(rows.length > 100);
  for (const row of rows) {
    const expected = computeReputation({ severity: row.severity, confidence: row.confidence, reports: row.sightings, reporters: row.reporters, trap: row.trap === 1, days: (clock.now() - Date.parse(row.last_seen)) / DAY_MS });
    t.equal(row.reputation, expected);
  }
});
