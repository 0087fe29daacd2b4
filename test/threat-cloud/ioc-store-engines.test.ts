import t from 'tap';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { defineStatement, type Storage } from '../../src/shared/db/storage.js';
import { IOC_STATEMENTS } from '../../src/threat-cloud/stores/iocs.js';
import { testConfig, testDb } from '../helper.js';
import { mirrorToPostgres, startPostgres } from '../postgres.js';
import { seedIoc } from '../seed.js';

const cluster = await startPostgres(t);
const lineageOf = defineStatement<[id: string], { stix_lineage: string }>('SELECT stix_lineage FROM iocs WHERE id = ?');

// A STIX export of the lineage reads this text back, so both engines must store the same characters.
t.test('appending to an IoC\'s STIX lineage stores the same JSON text on SQLite and PostgreSQL', async (t) => {
  const db = testDb(t, testConfig(t));
  seedIoc(db, { id: 'ioc_a', value: '203.0.113.7', reputation: 20, changeSeq: 1 });
  const sqlite = sqliteStorageOf(db);
  const postgres: Storage = await openPostgresStorage({ connectionString: await mirrorToPostgres(t, cluster, db), poolSize: 2, statementTimeoutMs: 0, ssl: false });
  t.teardown(() => postgres.close());
  const entries = [
    { revoked: '2026-03-07T12:00:00.000Z', confidence: 0.5, category: null, reactivated: '2026-03-08T00:00:00.000Z' },
    { revoked: '2026-03-09T12:00:00.000Z', confidence: 0.875, category: 'c2', reactivated: '2026-03-10T00:00:00.000Z', note: 'quote " backslash \\ é ☃ \u2028' },
    { reactivated: 'z', revoked: 'a', confidence: 1, category: 'malware' },
  ];
  for (const entry of entries) {
    const params = { entry: JSON.stringify(entry), iocId: 'ioc_a' };
    await sqlite.run(IOC_STATEMENTS.addLineage, params);
    await postgres.run(IOC_STATEMENTS.addLineage, params);
    const [left, right] = [(await sqlite.get(lineageOf, ['ioc_a']))!.stix_lineage, (await postgres.get(lineageOf, ['ioc_a']))!.stix_lineage];
    t.equal(right, left, `the same text after ${JSON.parse(left).length} entries`);
  }
  t.same(JSON.parse((await postgres.get(lineageOf, ['ioc_a']))!.stix_lineage), entries, 'every entry, keys in the order written');
});

t.test('a batch reads its IoCs by (type, value) with one statement on both engines', async (t) => {
  const db = testDb(t, testConfig(t));
  seedIoc(db, { id: 'ioc_1', value: '203.0.113.7', reputation: 20, changeSeq: 1 });
  seedIoc(db, { id: 'ioc_2', type: 'domain', value: 'évil.example', reputation: 30, changeSeq: 2 });
  seedIoc(db, { id: 'ioc_3', value: '198.51.100.1', reputation: 40, changeSeq: 3 });
  const sqlite = sqliteStorageOf(db);
  const postgres: Storage = await openPostgresStorage({ connectionString: await mirrorToPostgres(t, cluster, db), poolSize: 2, statementTimeoutMs: 0, ssl: false });
  t.teardown(() => postgres.close());
  const keys = JSON.stringify([['ip', '203.0.113.7'], ['domain', 'évil.example'], ['ip', '192.0.2.99'], ['domain', '203.0.113.7']]);
  const idsOn = async (storage: Storage) => (await storage.all(IOC_STATEMENTS.byKeys, [keys])).map((row) => row.id).sort();
  t.same(await idsOn(sqlite), ['ioc_1', 'ioc_2'], 'SQLite: the two stored keys, not the unknown one nor a value under another type');
  t.same(await idsOn(postgres), ['ioc_1', 'ioc_2'], 'PostgreSQL: the same');
});
