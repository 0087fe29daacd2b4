import t from 'tap';
import { sqliteStorageOf } from '../../../src/shared/db/sqlite-storage.js';
import { CAMPAIGNS_LOCK, createCorrelator } from '../../../src/threat-cloud/intel/services/correlation.js';
import { HOUR, buildIntelHarness, report } from './helper.js';
import { countRows, testConfig, testDb } from '../../helper.js';
import { ManualClock } from '../../../src/shared/clock.js';

/** Campaign membership as sorted value lists, independent of random ids. */
function groups(db: Parameters<typeof countRows>[0]): string[][] {
  const rows = db.prepare(
    `SELECT c.id, i.value FROM campaigns c JOIN campaign_iocs m ON m.campaign_id = c.id JOIN iocs i ON i.id = m.ioc_id
     WHERE c.formed_at IS NOT NULL ORDER BY i.value`,
  ).all() as Array<{ id: string; value: string }>;
  const byId = new Map<string, string[]>();
  for (const row of rows) byId.set(row.id, [...(byId.get(row.id) ?? []), row.value]);
  return [...byId.values()].sort((a, b) => a[0]!.localeCompare(b[0]!));
}

async function seed(h: Awaited<ReturnType<typeof buildIntelHarness>>): Promise<void> {
  // Two chains of same-block reports an hour apart, and a pair that never reaches three.
  for (let i = 1; i <= 4; i++) {
    await report(h, [
      { type: 'ip', value: `198.51.100.${i}`, category: 'scanner' },
      { type: 'ip', value: `203.0.113.${i}`, category: 'botnet' },
    ]);
    h.clock.advance(HOUR);
  }
  await report(h, [{ type: 'ip', value: '198.51.101.1', category: 'c2' }, { type: 'ip', value: '198.51.101.2', category: 'c2' }]);
}

t.test('the result does not depend on how reports are batched, and re-running changes nothing', async (t) => {
  const whole = await buildIntelHarness(t);
  await seed(whole);
  t.equal(await whole.correlate(), countRows(whole.db, 'sightings'));
  const expected = groups(whole.db);
  t.same(expected, [
    ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4'],
    ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'],
  ]);
  t.equal(countRows(whole.db, 'campaigns'), 3, 'the c2 pair is kept as a group below campaign size');

  const oneByOne = await buildIntelHarness(t);
  await seed(oneByOne);
  const { correlation } = oneByOne.jobs;
  t.ok(await correlation.hasPending());
  let batches = 0;
  while ((await correlation.runBatch(1)) > 0) batches++;
  t.equal(batches, countRows(oneByOne.db, 'sightings'));
  t.notOk(await correlation.hasPending());
  t.same(groups(oneByOne.db), expected);

  const events = countRows(oneByOne.db, 'campaign_events');
  const updated = oneByOne.db.prepare(`SELECT group_concat(updated_at) AS u FROM campaigns`).get();
  oneByOne.db.prepare(`UPDATE intel_state SET value = 0`).run();
  await oneByOne.correlate();
  t.same(groups(oneByOne.db), expected, 'reprocessing every report is idempotent');
  t.equal(countRows(oneByOne.db, 'campaign_events'), events, 'no timeline noise from a re-run');
  t.same(oneByOne.db.prepare(`SELECT group_concat(updated_at) AS u FROM campaigns`).get(), updated, 'nothing marked updated');
});

t.test('correlateNow runs in the caller\'s transaction: an unknown IoC is in no campaign', async (t) => {
  const db = testDb(t, testConfig(t));
  const correlator = createCorrelator(sqliteStorageOf(db), new ManualClock());
  t.equal(await sqliteStorageOf(db).transaction({ durable: false, locks: [CAMPAIGNS_LOCK] }, (tx) => correlator.correlateNow(tx, ['ioc_unknown'])), null);
});

t.test('aggregate memo: one computation per second while the data is unchanged', async (t) => {
  const { createAggregateMemo } = await import('../../../src/threat-cloud/intel/services/memo.js');
  const { createDataVersionStore } = await import('../../../src/threat-cloud/intel/stores/data-version.js');
  const h = await buildIntelHarness(t);
  const memo = createAggregateMemo(createDataVersionStore(sqliteStorageOf(h.db)), h.clock);
  let computed = 0;
  const compute = () => ++computed;
  t.equal(await memo('x', { a: 1 }, compute), 1);
  t.equal(await memo('x', { a: 1 }, compute), 1, 'same data, same second: reused');
  t.equal(await memo('x', { a: 2 }, compute), 2, 'other parameters: computed');
  await report(h, [{ type: 'ip', value: '198.51.100.1' }]);
  t.equal(await memo('x', { a: 1 }, compute), 3, 'a new report: computed again');
  h.clock.advance(1000);
  t.equal(await memo('x', { a: 1 }, compute), 4, 'the next second: computed again');
  h.db.prepare(`UPDATE intel_state SET value = value + 1`).run();
  t.equal(await memo('x', { a: 1 }, compute), 5, 'correlation progressed: computed again');
});
