/**
 * On PostgreSQL every statement is a round trip, so an upload must cost statements per table,
 * not per IoC: 100 reports — new IoCs, or reports merged into stored ones — are a handful of
 * statements inside the upload's transaction, and the stored rows are what one-by-one merges
 * would leave. A page of the IoC list is read the same way: statements per page, not per row.
 */
import type { Storage, Transaction } from '../../src/shared/db/storage.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { storageOn, type Engine } from '../engines.js';
import { testConfig, testDb, type Teardown } from '../helper.js';
import { buildThreatCloud, onBothEngines, selectRows } from './fixtures.js';

const STATEMENT_METHODS = new Set(['run', 'get', 'all', 'runBatch']);

/** The storage, counting the statements run inside its transactions (a batch of up to 500 rows is one) and, apart, outside them. */
function counting(storage: Storage, calls: { n: number; outside?: number }): Storage {
  const countingTx = (tx: Transaction): Transaction =>
    new Proxy(tx, {
      get(target, property) {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function') return value;
        if (property === 'savepoint') return (work: (inner: Transaction) => Promise<unknown>) => target.savepoint((inner) => work(countingTx(inner)));
        return STATEMENT_METHODS.has(String(property))
          ? (...args: unknown[]) => {
              calls.n++;
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            }
          : (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
  return new Proxy(storage, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (property === 'transaction') {
        return (options: Parameters<Storage['transaction']>[0], work: (tx: Transaction) => Promise<unknown>) => target.transaction(options, (tx) => work(countingTx(tx)));
      }
      if (STATEMENT_METHODS.has(String(property)) && typeof value === 'function') {
        return (...args: unknown[]) => {
          calls.outside = (calls.outside ?? 0) + 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function countedThreatCloud(t: Teardown, engine: Engine, calls: { n: number; outside?: number }) {
  const storage = (await storageOn(engine)) ?? sqliteStorageOf(testDb(t, testConfig(t)));
  return buildThreatCloud(t, { storage: counting(storage, calls) });
}

const threats = (from: number, count: number, source: string) =>
  Array.from({ length: count }, (_, i) => ({ type: 'ip', value: `203.0.${Math.floor((from + i) / 256)}.${(from + i) % 256}`, source, category: 'scanner' }));

onBothEngines('an upload of 100 IoCs is a few statements per table, new or merged into stored ones', async (t, engine) => {
  const calls = { n: 0 };
  const tc = await countedThreatCloud(t, engine, calls);
  const upload = async (body: { threats: unknown[] }) => {
    calls.n = 0;
    const res = await tc.inject({ method: 'POST', url: '/api/threats', payload: body });
    t.equal(res.statusCode, 201, res.statusCode === 201 ? 'stored' : res.body);
    return calls.n;
  };
  const created = await upload({ threats: threats(0, 100, 'first') });
  t.ok(created <= 25, `100 new IoCs: ${created} statements`);
  // 80 of them again, from another source, 20 of those twice within the batch.
  const merged = await upload({ threats: [...threats(0, 80, 'second'), ...threats(0, 20, 'second')] });
  t.ok(merged <= 30, `100 reports merged into stored IoCs: ${merged} statements`);

  const rows = await selectRows<{ value: string; sightings: number; sources: string }>(tc.storage, `SELECT value, sightings, sources FROM iocs`);
  t.equal(rows.length, 100);
  const index = new Map(threats(0, 100, 'x').map((threat, i) => [threat.value, i]));
  const expected = (i: number) => (i < 20 ? 3 : i < 80 ? 2 : 1);
  t.same(
    rows.filter((row) => Number(row.sightings) !== expected(index.get(row.value)!)).map((row) => row.value),
    [],
    'every report counted: three sightings for the IoCs named twice in the second batch, two for the others it named, one for the rest',
  );
  t.same(
    rows.filter((row) => JSON.parse(row.sources).includes('second') !== index.get(row.value)! < 80).map((row) => row.value),
    [],
    'the second source on exactly the IoCs it reported',
  );
  const [counted] = await selectRows<{ n: number }>(tc.storage, 'SELECT count(*) AS n FROM sightings');
  t.equal(Number(counted!.n), 200, 'one sighting per report');
});

onBothEngines('a page of 200 IoCs is read in a few statements, not one per row', async (t, engine) => {
  const calls: { n: number; outside?: number } = { n: 0 };
  const tc = await countedThreatCloud(t, engine, calls);
  for (let from = 0; from < 500; from += 100) {
    t.equal((await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: threats(from, 100, 'feed') } })).statusCode, 201);
  }
  const pageOf = async (page: number) => {
    const res = await tc.inject({ url: `/api/iocs?limit=200&page=${page}` });
    t.equal(res.statusCode, 200, res.body);
    return (res.json().data as Array<{ value: string }>).map((ioc) => ioc.value);
  };
  const first = await pageOf(1);
  const third = await pageOf(3);
  t.same([first.length, third.length], [200, 100]);
  calls.outside = 0;
  const second = await pageOf(2);
  t.ok(calls.outside <= 12, `page 2 of 200: ${calls.outside} statements`);
  t.equal(second.length, 200);
  t.equal(new Set([...first, ...second, ...third]).size, 500, 'the three pages hold every IoC once');
});
