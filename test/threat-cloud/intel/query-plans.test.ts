import t from 'tap';
import type { Db } from '../../../src/shared/db/open.js';
import { ManualClock } from '../../../src/shared/clock.js';
import { createGeoQuery } from '../../../src/threat-cloud/intel/geo.js';
import { createHeatmapQuery } from '../../../src/threat-cloud/intel/heatmap.js';
import { createMitreCatalog } from '../../../src/threat-cloud/intel/mitre.js';
import { createTimeseriesQuery } from '../../../src/threat-cloud/intel/timeseries.js';
import { createTrendsQuery } from '../../../src/threat-cloud/intel/trends.js';
import { seedIocs } from '../../../src/threat-cloud/seed.js';
import { testConfig, testDb } from '../../helper.js';

/** Every SQL text a factory prepares, recorded through a thin wrapper of the real database. */
function recordPrepared(db: Db): { db: Db; sources: string[] } {
  const sources: string[] = [];
  const recording = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'prepare') {
        return (source: string) => {
          sources.push(source);
          return target.prepare(source);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: recording, sources };
}

t.test('per-period analytics queries search indexes; none scans a whole table', async (t) => {
  const db = testDb(t, testConfig(t));
  // Enough rows that the planner's choice is the one it makes on a large database.
  seedIocs(db, { count: 5_000 });
  db.exec(`UPDATE iocs SET metadata = json_object('mitreIds', json_array('T1110', 'T1046')) WHERE rowid % 10 = 0`);
  db.exec('ANALYZE');
  const clock = new ManualClock(Date.now());
  const { db: recorder, sources } = recordPrepared(db);
  createTimeseriesQuery(recorder, clock);
  createGeoQuery(recorder, clock);
  createTrendsQuery(recorder, clock);
  createHeatmapQuery(recorder, clock, createMitreCatalog());
  t.ok(sources.length >= 4, `${sources.length} statements prepared by the analytics queries`);
  for (const source of sources) {
    // EXPLAIN needs every parameter bound; the plan does not depend on the values.
    const named = Object.fromEntries([...source.matchAll(/[@:$](\w+)/g)].map((m) => [m[1], null]));
    const positional = (source.match(/\?/g) ?? []).map(() => null);
    const explain = db.prepare(`EXPLAIN QUERY PLAN ${source}`);
    const rows = Object.keys(named).length > 0 ? explain.all(named) : explain.all(...positional);
    const plan = (rows as Array<{ detail: string }>).map((row) => row.detail);
    // Scanning a subquery's own result (a co-routine or materialised view) reads no table.
    const derived = new Set(plan.flatMap((detail) => /^(?:CO-ROUTINE|MATERIALIZE) (\w+)/.exec(detail)?.slice(1) ?? []));
    const scans = plan.filter((detail) => /^SCAN (?!CONSTANT ROW)/.test(detail) && !derived.has(detail.split(' ')[1]!));
    t.same(scans, [], `${source.replace(/\s+/g, ' ').slice(0, 140)}\n  plan: ${plan.join(' | ')}`);
  }
});
