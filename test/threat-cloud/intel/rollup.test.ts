import fc from 'fast-check';
import t, { type Test } from 'tap';
import { sqliteStorageOf } from '../../../src/shared/db/sqlite-storage.js';
import type { Statement, Storage } from '../../../src/shared/db/storage.js';
import { ManualClock, toIso } from '../../../src/shared/clock.js';
import type { Db } from '../../../src/shared/db/open.js';
import { createTimeseriesQuery } from '../../../src/threat-cloud/intel/stores/timeseries.js';
import { createTrendsQuery, FIRST_WALK_WINDOW, MEMBER_WALK, TRENDS_READS } from '../../../src/threat-cloud/intel/stores/trends.js';
import { seedIocs } from '../../../src/threat-cloud/seed.js';
import { storageOn, type Engine } from '../../engines.js';
import { testConfig, testDb, type Teardown } from '../../helper.js';
import { buildThreatCloudOn, copyIntoPostgres, execute, onBothEngines, selectRows } from '../fixtures.js';
import { busyDay, type BusyDay } from './busy-day.js';
import { DAY, HOUR } from './helper.js';

// Both engines' histories run here (PostgreSQL makes a database per generated history): longer than the default file timeout.
t.setTimeout(240_000);

const CATEGORIES = ['malware', 'phishing', 'scanner'] as const;
const COUNTED = `status NOT IN ('whitelisted', 'revoked')`;

type Row = { hour: string; type: string; category: string; new_iocs: number; sightings: number };
const rollup = (storage: Storage) =>
  selectRows<Row>(storage, `SELECT hour, type, category, new_iocs, sightings FROM intel_hourly WHERE new_iocs <> 0 OR sightings <> 0 ORDER BY hour, type, category`);
/** What the roll-up must hold, counted from the rows themselves (what migration 6 fills it with). */
const recount = (storage: Storage) =>
  selectRows<Row>(
    storage,
    `SELECT hour, type, category, sum(new_iocs) AS new_iocs, sum(sightings) AS sightings FROM (
       SELECT substr(i.first_seen, 1, 13) AS hour, i.type AS type, coalesce(i.category, '') AS category, 1 AS new_iocs, 0 AS sightings
       FROM iocs i WHERE i.${COUNTED}
       UNION ALL
       SELECT substr(s.created_at, 1, 13), i.type, coalesce(i.category, ''), 0, 1
       FROM sightings s JOIN iocs i ON i.id = s.ioc_id WHERE i.${COUNTED}
     ) AS counted GROUP BY hour, type, category ORDER BY hour, type, category`,
  );

/** The analytics as they were computed before the roll-up: straight from the rows. */
async function rawTimeseries(storage: Storage, fromIso: string, toIsoValue: string) {
  const hours = new Map<string, { newIocs: number; sightings: number }>();
  const at = (hour: string) => hours.get(hour) ?? hours.set(hour, { newIocs: 0, sightings: 0 }).get(hour)!;
  for (const row of await selectRows<{ hour: string; n: number }>(storage, `SELECT substr(first_seen, 1, 13) AS hour, count(*) AS n FROM iocs WHERE first_seen >= ? AND first_seen <= ? AND ${COUNTED} GROUP BY 1`, [fromIso, toIsoValue])) {
    at(row.hour).newIocs += row.n;
  }
  for (const row of await selectRows<{ hour: string; n: number }>(storage, `SELECT substr(s.created_at, 1, 13) AS hour, count(*) AS n FROM sightings s JOIN iocs i ON i.id = s.ioc_id WHERE s.created_at >= ? AND s.created_at <= ? AND i.${COUNTED} GROUP BY 1`, [fromIso, toIsoValue])) {
    at(row.hour).sightings += row.n;
  }
  return hours;
}
function rawCategoryRates(storage: Storage, now: number, periodMs: number) {
  return selectRows<{ category: string; current: number; previous: number }>(
    storage,
    `SELECT i.category AS category, sum(CASE WHEN s.created_at > @middle THEN 1 ELSE 0 END) AS current, sum(CASE WHEN s.created_at <= @middle THEN 1 ELSE 0 END) AS previous
     FROM sightings s JOIN iocs i ON i.id = s.ioc_id
     WHERE s.created_at > @start AND s.created_at <= @now AND i.category IS NOT NULL AND i.${COUNTED}
     GROUP BY i.category`,
    { start: toIso(now - 2 * periodMs), middle: toIso(now - periodMs), now: toIso(now) },
  );
}

/**
 * The rows of a SQLite file on the engine: that file itself, or a fresh PostgreSQL database
 * they were copied into as `migrate-data` copies them (rows SQLite's seeders make quickly).
 */
async function storageWith(t: Test, engine: Engine, source: Db): Promise<Storage> {
  const postgres = await storageOn(engine);
  if (postgres === undefined) return sqliteStorageOf(source);
  t.teardown(() => postgres.close());
  await copyIntoPostgres(t, postgres, source);
  return postgres;
}

onBothEngines('the roll-up holds the rows already stored (migration 6 and the seeder on SQLite, the data copy on PostgreSQL) and stays exact through a bulk revocation', async (t, engine) => {
  const source = testDb(t, testConfig(t));
  seedIocs(source, { count: 3_000 });
  const storage = await storageWith(t, engine, source);
  t.same(await rollup(storage), await recount(storage), 'seeded rows');
  t.equal(await execute(storage, `UPDATE iocs SET status = 'revoked' WHERE rowid % 7 = 0`), Math.floor(3_000 / 7));
  t.same(await rollup(storage), await recount(storage), 'seeded rows and a bulk revocation');
  t.equal((await rollup(storage)).reduce((sum, row) => sum + row.new_iocs, 0), 3_000 - Math.floor(3_000 / 7));
});

onBothEngines('property: after any mix of uploads, sightings, reclassification and status changes, the roll-up equals a recount and the analytics equal the raw rows', async (t, engine) => {
  const values = Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? `host-${i}.example.net` : `198.51.100.${i + 1}`));
  const typeOf = (value: string) => (value.endsWith('.net') ? 'domain' : 'ip');
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('upload' as const),
      items: fc.uniqueArray(fc.record({ value: fc.constantFrom(...values), category: fc.option(fc.constantFrom(...CATEGORIES), { nil: undefined }) }), { minLength: 1, maxLength: 4, selector: (i) => i.value }),
    }),
    fc.record({ kind: fc.constant('sighting' as const), value: fc.constantFrom(...values) }),
    fc.record({ kind: fc.constant('status' as const), value: fc.constantFrom(...values), status: fc.constantFrom('active', 'whitelisted', 'revoked', 'expired') }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 3 * DAY }) }),
  );
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: DAY - 1 }), async (ops, extra) => {
      runs += 1;
      // Each history's app (and its PostgreSQL pool) closes when the history is checked, not all at the end.
      const closers: Array<() => unknown> = [];
      const run: Teardown = { teardown: (fn) => void closers.unshift(fn) };
      try {
        const tc = await buildThreatCloudOn(run, engine);
        for (const step of ops) {
          tc.clock.advance(1 + (step.kind === 'wait' ? step.ms : 0));
          if (step.kind === 'upload') {
            const threats = step.items.map((item) => ({ type: typeOf(item.value), value: item.value, source: 'feed', ...(item.category ? { category: item.category } : {}) }));
            const res = await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats } });
            if (res.statusCode !== 201) throw new Error(`upload: ${res.statusCode} ${res.body}`);
          } else if (step.kind === 'sighting') {
            await tc.inject({ method: 'POST', url: '/api/sightings', payload: { value: step.value, source: 'fw' } });
          } else if (step.kind === 'status') {
            await tc.inject({ method: 'PUT', url: `/api/iocs/${step.value}/status`, payload: { status: step.status, reason: 'test' } });
          }
          const [kept, counted] = [await rollup(tc.storage), await recount(tc.storage)];
          if (JSON.stringify(kept) !== JSON.stringify(counted)) throw new Error(`after ${JSON.stringify(step)}: roll-up ${JSON.stringify(kept)} != recount ${JSON.stringify(counted)}`);
        }

        // Ask at an instant inside an hour, a while after the last write, so the window edges cut hours.
        tc.clock.advance(extra);
        const now = tc.clock.now();
        const series = await createTimeseriesQuery(tc.storage, tc.clock)({ granularity: 'hour', period: '7d' });
        const raw = await rawTimeseries(tc.storage, series.series[0]!.timestamp, toIso(now));
        for (const bucket of series.series) {
          const expected = raw.get(bucket.timestamp.slice(0, 13)) ?? { newIocs: 0, sightings: 0 };
          if (bucket.newIocs !== expected.newIocs || bucket.sightings !== expected.sightings) {
            throw new Error(`timeseries ${bucket.timestamp}: ${JSON.stringify(bucket)} != raw ${JSON.stringify(expected)}`);
          }
        }
        const trends = await createTrendsQuery(tc.storage, tc.clock)({ periodDays: 1, minChange: 0 });
        const expected = (await rawCategoryRates(tc.storage, now, DAY))
          .filter((row) => row.current !== row.previous)
          .map((row) => [row.category, row.current, row.previous])
          .sort();
        const got = trends.trends.map((row) => [row.category, row.currentRate, row.previousRate]).sort();
        if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`trends ${JSON.stringify(got)} != raw ${JSON.stringify(expected)}`);
      } finally {
        for (const close of closers) await close();
      }
    }),
    { numRuns: 30 },
  );
  t.equal(runs, 30, 'every generated history was checked');
});

onBothEngines('trend windows count reports exactly at millisecond edges that cut through hours', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  const start = tc.clock.now();
  // Reports at 00:30 and 00:59:59.999 of hour 0 and at 01:00 of hour 1, for one phishing IoC.
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [{ type: 'ip', value: '198.51.100.40', source: 'a', category: 'phishing' }] } });
  tc.clock.advance(HOUR - 1);
  await tc.inject({ method: 'POST', url: '/api/sightings', payload: { value: '198.51.100.40', source: 'fw' } });
  tc.clock.advance(1);
  await tc.inject({ method: 'POST', url: '/api/sightings', payload: { value: '198.51.100.40', source: 'fw' } });
  const trendsAt = async (now: number) => {
    tc.clock.set(now);
    return (await createTrendsQuery(tc.storage, tc.clock)({ periodDays: 1, minChange: 0 })).trends.map((row) => [row.currentRate, row.previousRate]);
  };
  // One day later exactly: the first report is on the edge between the windows (previous).
  t.same(await trendsAt(start + DAY), [[2, 1]]);
  t.same(await trendsAt(start + DAY + HOUR - 1), [[1, 2]], 'the middle edge moved past the second report');
  t.same(await trendsAt(start + DAY + HOUR), [[0, 3]], 'the third report, exactly on the middle edge, is in the previous window');
  t.same(await trendsAt(start + 2 * DAY + HOUR), [], 'a day later nothing is left in either window');
});

/** The real storage, counting the statements run through it by their text. */
function countingStorage(storage: Storage): { storage: Storage; runs: (statement: Statement<never, unknown>) => number } {
  const counts = new Map<string, number>();
  const counted = (method: 'all' | 'get' | 'run') => (statement: Statement<never, unknown>, ...params: unknown[]) => {
    counts.set(statement.sql, (counts.get(statement.sql) ?? 0) + 1);
    return (storage[method] as (...args: unknown[]) => unknown)(statement, ...params);
  };
  return {
    storage: { ...storage, all: counted('all'), get: counted('get'), run: counted('run') } as Storage,
    runs: (statement) => counts.get(statement.sql) ?? 0,
  };
}

// SQLite only: its ~30,000 seeded rows per case take minutes to copy into PostgreSQL on this machine (the first three cases passed there).
t.test('on a day of thousands of equally busy IoCs, the emerging threats are the exhaustive answer however long the walk for their level', async (t) => {
  const now = Date.parse('2026-03-07T12:00:00.000Z');
  const { newestWithId, busiestNew, reportsOfDay } = TRENDS_READS;
  // [name, data, recent-IoC windows read, whether the exhaustive query answered]
  const cases: Array<[string, BusyDay, number, boolean]> = [
    ['a short walk: the level is found among the first rows read', { quietNewer: 0, members: 8 }, 1, false],
    ['a long walk: the level lies behind more recent IoCs than the first window reads', { quietNewer: 3 * FIRST_WALK_WINDOW, members: 8 }, 2, false],
    ['every recent IoC walked and still too few: the exhaustive query answers', { quietNewer: 2 * FIRST_WALK_WINDOW, members: 3 }, 2, true],
    ['more recent IoCs than the walk may probe: the exhaustive query answers', { quietNewer: 5_100, members: 8 }, 2, true],
  ];
  for (const [name, day, windows, exhaustiveAnswered] of cases) {
    const db = testDb(t, testConfig(t));
    busyDay(db, now, day);
    const storage = sqliteStorageOf(db);
    const since = toIso(now - DAY);
    const exhaustive = await storage.all(busiestNew, { dayAgo: since, now: toIso(now), since, limit: 10 });
    t.equal(exhaustive.length, 10, `${name}: ten new IoCs were reported`);
    const counting = countingStorage(storage);
    const { emergingThreats } = await createTrendsQuery(counting.storage, new ManualClock(now))({ periodDays: 1, minChange: 0 });
    t.same(
      emergingThreats.map((threat) => [threat.indicator, threat.sightingsLast24h, threat.firstSeen]),
      exhaustive.map((row) => [row.value, row.n, row.first_seen]),
      name,
    );
    t.equal(counting.runs(newestWithId), windows, `${name}: ${windows} window(s) of recent IoCs read`);
    t.equal(counting.runs(busiestNew), exhaustiveAnswered ? 1 : 0, `${name}: the exhaustive query ${exhaustiveAnswered ? 'ran' : 'did not run'}`);
    t.ok(counting.runs(reportsOfDay) <= MEMBER_WALK, `${name}: ${counting.runs(reportsOfDay)} IoCs probed, at most MEMBER_WALK`);
  }
});
