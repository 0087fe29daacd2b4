import t from 'tap';
import { ManualClock, toIso } from '../../src/shared/clock.js';
import type { Db } from '../../src/shared/db/open.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { createTrendsQuery, TRENDS_READS } from '../../src/threat-cloud/intel/stores/trends.js';
import { seedUnevenIocs } from '../seed.js';
import { createFeedStore, type BlocklistFilter } from '../../src/threat-cloud/stores/feeds.js';
import { createIocList, IOC_LIST_READS, type IocFilter } from '../../src/threat-cloud/stores/ioc-list.js';
import { testConfig, testDb, type Teardown } from '../helper.js';
import { mirrorToPostgres, startPostgres } from '../postgres.js';
import { busyDay } from './intel/busy-day.js';
import { DAY } from './intel/helper.js';

const cluster = await startPostgres(t);
const NOW = Date.parse('2026-03-07T12:00:00.000Z');

async function bothEngines(t: Teardown, db: Db): Promise<Array<[string, Storage]>> {
  const postgres = await openPostgresStorage({ connectionString: await mirrorToPostgres(t, cluster, db), poolSize: 2, statementTimeoutMs: 0, ssl: false });
  t.teardown(() => postgres.close());
  return [['SQLite', sqliteStorageOf(db)], ['PostgreSQL', postgres]];
}

t.test('feeds: blocklists, change pages, STIX pages and positions read the same on SQLite and PostgreSQL', async (t) => {
  const db = testDb(t, testConfig(t));
  seedUnevenIocs(db, 1_500, NOW);
  const answers: unknown[] = [];
  for (const [engine, storage] of await bothEngines(t, db)) {
    const feeds = createFeedStore(storage);
    const answer: Record<string, unknown> = {};
    const filters: BlocklistFilter[] = [
      { type: 'ip', threshold: 70, category: null },
      { type: 'ip', threshold: 100, category: 'c2' },
      { type: 'hash', threshold: 55, category: null },
    ];
    for (const filter of filters) {
      const values: string[] = [];
      for await (const chunk of feeds.listedValues(filter)) values.push(...chunk);
      answer[`blocklist ${JSON.stringify(filter)}`] = { total: await feeds.countListed(filter), values };
    }
    for (const type of [null, 'ip', 'hash'] as const) {
      const pages: number[][] = [];
      for await (const rows of feeds.changesBetween(100, 1_200, type, { chunk: 97 })) pages.push(rows.map((row) => row.change_seq));
      answer[`changes ${type}`] = pages;
      answer[`stix ${type}`] = await feeds.stixChangesAfter(700, type, 50);
    }
    answer.positions = [
      await feeds.positionBefore('2026-02-20T00:00:00.000Z'),
      await feeds.positionBefore('2099-01-01T00:00:00.000Z'),
      await feeds.lastSeq(),
    ];
    t.ok(Object.values(answer).every((value) => JSON.stringify(value).length > 10), `${engine}: every read found rows`);
    answers.push(answer);
  }
  t.same(answers[1], answers[0]);
});

/** A sample of the filter combinations of GET /api/iocs: each reading way, each index prefix. */
const FILTERS: IocFilter[] = [
  {},
  { type: 'hash' },
  { status: 'revoked', minReputation: 40 },
  { category: 'c2', maxReputation: 90 },
  { source: 'rare-feed' },
  { source: 'seed', status: 'active', type: 'ip' },
  { q: '11.0.1' },
  { q: '1', type: 'ip', category: 'c2' },
  { since: '2026-03-02T00:00:00.000Z' },
  { since: '2026-02-20T00:00:00.000Z', source: 'rare-feed', minReputation: 40 },
  { since: '2026-02-20T00:00:00.000Z', q: '1', status: 'active' },
];

t.test('the IoC list answers every way of reading (counts, pages, ranges, stepped walks) the same on SQLite and PostgreSQL', async (t) => {
  const db = testDb(t, testConfig(t));
  seedUnevenIocs(db, 1_500, NOW);
  const answers: unknown[] = [];
  for (const [, storage] of await bothEngines(t, db)) {
    const lists = [createIocList(storage), createIocList(storage, { smallSet: 0, walkStep: 7 }), createIocList(storage, { smallSet: 1e9 })];
    // The kept counts that choose the index to walk, by their (camel-case) names.
    const countParams = { type: 'ip', category: 'c2', status: 'active', source: 'rare-feed', lo: 10, hi: 90 };
    const answer: unknown[] = [await storage.get(IOC_LIST_READS.iocCounts, countParams), await storage.get(IOC_LIST_READS.sourceCounts, countParams)];
    for (const filter of FILTERS) {
      for (const list of lists) {
        for (const [page, limit] of [[1, 20], [3, 7]] as const) {
          const { items, total } = await list.list(filter, page, limit);
          answer.push([filter, page, total, items]);
        }
      }
    }
    answers.push(answer);
  }
  t.match(answers[0], [{ everything: Number, ofType: Number, ofCategory: Number, ofStatus: Number, matching: Number }, { ofType: Number }], 'the counts by name');
  t.ok((answers[0] as Array<[unknown, unknown, number]>).filter((entry) => entry[2] > 0).length > 40, 'most filters match rows');
  t.same(answers[1], answers[0]);
});

t.test('trends: the recent IoCs walked for a busy level, ties by first report included, and the emerging threats are the same on both engines', async (t) => {
  const db = testDb(t, testConfig(t));
  busyDay(db, NOW, { quietNewer: 150, members: 8 });
  const answers: unknown[] = [];
  for (const [, storage] of await bothEngines(t, db)) {
    const recent = await storage.all(TRENDS_READS.newestWithId, { since: toIso(NOW - DAY), now: toIso(NOW), limit: 5_001 });
    const { emergingThreats } = await createTrendsQuery(storage, new ManualClock(NOW))({ periodDays: 1, minChange: 0 });
    answers.push({ recent: recent.map((row) => row.id), emergingThreats });
  }
  t.equal((answers[0] as { recent: string[] }).recent.length, 163, 'every new IoC, newest first');
  t.same(answers[1], answers[0]);
});
