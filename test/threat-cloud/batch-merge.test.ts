import fc from 'fast-check';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { openDatabase } from '../../src/shared/db/open.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import type { Storage, Transaction } from '../../src/shared/db/storage.js';
import { storageOn, type Engine } from '../engines.js';
import { onBothEngines, selectRows } from './fixtures.js';
import { CATEGORIES } from '../../src/threat-cloud/stores/iocs.js';
import { createIocService, type IocReport, type MergeOutcome } from '../../src/threat-cloud/services/ioc-merge.js';
import { SEVERITIES } from '../../src/threat-cloud/reputation.js';

/**
 * An upload batch reads its IoCs once and carries them in memory from report to report;
 * one report at a time reads each IoC back from the database. Both must leave every row and
 * every trigger-kept counter exactly alike, and answer every report alike.
 */

const IPS = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '203.0.113.9'];
const DOMAINS = ['evil.example', 'bad.example'];
const HASHES = ['a'.repeat(64)];

const report: fc.Arbitrary<IocReport> = fc
  .record({
    pick: fc.oneof(
      fc.constantFrom(...IPS).map((value) => ({ type: 'ip' as const, value })),
      fc.constantFrom(...DOMAINS).map((value) => ({ type: 'domain' as const, value })),
      fc.constantFrom(...HASHES).map((value) => ({ type: 'hash' as const, value })),
    ),
    source: fc.constantFrom('feed-a', 'feed-b', 'fw'),
    kind: fc.constantFrom('upload' as const, 'sighting' as const, 'trap' as const),
    category: fc.option(fc.constantFrom(...CATEGORIES), { nil: undefined }),
    severity: fc.option(fc.constantFrom(...SEVERITIES), { nil: undefined }),
    confidence: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    metadata: fc.option(
      fc.oneof(
        fc.record({ mitreIds: fc.subarray(['T1110', 'T1046', 'T1059']) }),
        fc.record({ ports: fc.subarray([22, 80, 443]) }),
        fc.record({ country: fc.constantFrom('de', 'FR') }),
      ),
      { nil: undefined },
    ),
    trap: fc.boolean(),
    context: fc.option(fc.record({ port: fc.integer({ min: 1, max: 65535 }) }), { nil: undefined }),
  })
  .map(({ pick, ...rest }) => {
    const out: IocReport = { ...pick, source: rest.source, kind: rest.kind, trap: rest.trap };
    if (rest.category !== undefined) out.category = rest.category;
    if (rest.severity !== undefined) out.severity = rest.severity;
    if (rest.confidence !== undefined) out.confidence = rest.confidence;
    if (rest.metadata !== undefined) out.metadata = rest.metadata;
    if (rest.context !== undefined) out.context = rest.context;
    return out;
  });

const batches = fc.array(
  fc.record({ reporter: fc.constantFrom('key:a', 'key:b', 'user:u'), reports: fc.array(report, { minLength: 1, maxLength: 8 }), advanceMs: fc.integer({ min: 0, max: 7_200_000 }) }),
  { minLength: 1, maxLength: 5 },
);

/** `work` in one transaction on the storage port, as the services run a merge. */
const inTransaction = <T>(storage: Storage, work: (tx: Transaction) => Promise<T>): Promise<T> => storage.transaction({ durable: false }, work);

/** A fresh migrated database, to close after use: in memory on SQLite, a new database on PostgreSQL. */
async function freshStorage(engine: Engine): Promise<Storage> {
  const postgres = await storageOn(engine);
  if (postgres !== undefined) return postgres;
  const db = openDatabase(':memory:');
  migrate(db, MIGRATIONS);
  const storage = sqliteStorageOf(db);
  return Object.create(storage, { close: { value: async () => db.close() } }) as Storage;
}

/** Every row an upload writes or a trigger keeps, with IoC ids replaced by the IoC's value. */
async function contents(storage: Storage) {
  const all = (sql: string) => selectRows(storage, sql);
  return {
    iocs: await all(`SELECT type, value, reputation, status, category, severity, confidence, sightings, reporters, trap, source, sources, metadata, country,
                 first_seen, last_seen, updated_at, change_seq FROM iocs ORDER BY type, value`),
    reporters: await all(`SELECT i.value, r.reporter_id, r.first_seen FROM ioc_reporters r JOIN iocs i ON i.id = r.ioc_id ORDER BY 1, 2`),
    sources: await all(`SELECT i.value, s.source FROM ioc_sources s JOIN iocs i ON i.id = s.ioc_id ORDER BY 1, 2`),
    sightings: await all(`SELECT i.value, s.kind, s.source, s.reporter_id, s.context, s.created_at FROM sightings s JOIN iocs i ON i.id = s.ioc_id ORDER BY s.rowid`),
    techniques: await all(`SELECT i.value, t.technique_id, t.last_seen FROM ioc_techniques t JOIN iocs i ON i.id = t.ioc_id ORDER BY 1, 2`),
    knownSources: await all(`SELECT * FROM tc_sources ORDER BY source`),
    state: await all(`SELECT * FROM tc_state ORDER BY name`),
    counts: await all(`SELECT * FROM ioc_counts WHERE n <> 0 ORDER BY 1, 2, 3`),
    rankCounts: await all(`SELECT * FROM ioc_rank_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4`),
    sourceRank: await all(`SELECT * FROM ioc_source_rank ORDER BY source, change_seq`),
    sourceCounts: await all(`SELECT * FROM ioc_source_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5`),
    reportHours: await all(`SELECT * FROM tc_report_hours WHERE n <> 0 ORDER BY 1, 2`),
    totals: await all(`SELECT * FROM tc_list_totals ORDER BY name`),
    hourly: await all(`SELECT * FROM intel_hourly WHERE new_iocs <> 0 OR sightings <> 0 ORDER BY 1, 2, 3`),
  };
}

/** What a caller sees of an outcome (ids differ between databases; sighting ids too). */
const seen = ({ ioc, isNew, before }: MergeOutcome) => ({ ...ioc, id: undefined, isNew, before });

onBothEngines('property: one batch and one report at a time leave the same rows and counters and answer alike', async (t, engine) => {
  await fc.assert(
    fc.asyncProperty(batches, async (plan) => {
      const batched = await freshStorage(engine);
      const single = await freshStorage(engine);
      try {
        const clocks = [new ManualClock(), new ManualClock()];
        const countryOf = (ip: string) => (ip.endsWith('.1') ? 'NL' : null);
        const [inBatches, oneByOne] = [batched, single].map((storage, i) => createIocService(storage, clocks[i]!, { countryOf }));
        for (const { reporter, reports, advanceMs } of plan) {
          for (const clock of clocks) clock.advance(advanceMs);
          // The two databases are independent: both merges at once (PostgreSQL answers over the
          // network), each on its own copy of the reports.
          const [a, b] = await Promise.all([
            inTransaction(batched, (tx) => inBatches!.mergeReports(tx, structuredClone(reports), reporter)),
            inTransaction(single, async (tx) => {
              const outcomes: MergeOutcome[] = [];
              for (const r of structuredClone(reports)) outcomes.push(await oneByOne!.mergeReport(tx, r, reporter));
              return outcomes;
            }),
          ]);
          t.same(a.map(seen), b.map(seen));
        }
        const [left, right] = await Promise.all([contents(batched), contents(single)]);
        return JSON.stringify(left) === JSON.stringify(right) || (t.same(left, right), false);
      } finally {
        await batched.close();
        await single.close();
      }
    }),
    // Each PostgreSQL run creates two databases (about 0.3 s each): fewer runs keep the file
    // well inside the suite's per-file timeout on a loaded machine.
    { numRuns: engine === 'postgres' ? 25 : 60 },
  );
});

onBothEngines('a batch naming one IoC twice merges it twice: one new, one update, two sightings', async (t, engine) => {
  const storage = await freshStorage(engine);
  t.teardown(() => storage.close());
  const iocs = createIocService(storage, new ManualClock(), { countryOf: () => null });
  const outcomes = await inTransaction(storage, (tx) =>
    iocs.mergeReports(
      tx,
      [
        { type: 'ip', value: '198.51.100.7', source: 'feed-a', kind: 'upload', severity: 'low' },
        { type: 'domain', value: 'evil.example', source: 'feed-a', kind: 'upload' },
        { type: 'ip', value: '198.51.100.7', source: 'feed-b', kind: 'upload', severity: 'high', category: 'c2' },
      ],
      'key:a',
    ),
  );
  t.same(outcomes.map((o) => o.isNew), [true, true, false]);
  t.equal(outcomes[2]!.ioc.id, outcomes[0]!.ioc.id);
  t.equal(outcomes[2]!.before, outcomes[0]!.ioc.reputation, 'the second merge starts from what the first made');
  t.match(outcomes[2]!.ioc, { sightings: 2, reporters: 1, severity: 'high', category: 'c2', sources: ['feed-a', 'feed-b'] });
  t.not(outcomes[0]!.sightingId, outcomes[2]!.sightingId);
  const positions = await selectRows<{ change_seq: number }>(storage, `SELECT change_seq FROM iocs ORDER BY value`);
  t.same(positions.map((row) => row.change_seq), [3, 2], 'each merge took its own change position');
});

onBothEngines('ids: prefix, then 32 hex digits, creation time first', async (t, engine) => {
  const storage = await freshStorage(engine);
  t.teardown(() => storage.close());
  const clock = new ManualClock();
  const iocs = createIocService(storage, clock, { countryOf: () => null });
  const [first] = await inTransaction(storage, (tx) => iocs.mergeReports(tx, [{ type: 'ip', value: '198.51.100.8', source: 's', kind: 'upload' }], 'key:a'));
  clock.advance(1);
  const [second] = await inTransaction(storage, (tx) => iocs.mergeReports(tx, [{ type: 'ip', value: '198.51.100.9', source: 's', kind: 'upload' }], 'key:a'));
  t.match(first!.ioc.id, /^ioc_[0-9a-f]{32}$/);
  t.match(first!.sightingId, /^sig_[0-9a-f]{32}$/);
  t.equal(Number.parseInt(first!.ioc.id.slice(4, 16), 16), clock.now() - 1, 'the creation time in milliseconds');
  t.ok(first!.ioc.id < second!.ioc.id, 'a later IoC sorts after an earlier one');
});
