import type { Storage } from '../../../src/shared/db/storage.js';
import { CAMPAIGNS_LOCK, createCorrelator } from '../../../src/threat-cloud/intel/services/correlation.js';
import { HOUR, buildIntelHarnessOn, report, type IntelHarnessOn } from './helper.js';
import { ManualClock } from '../../../src/shared/clock.js';
import { bareStorageOn } from '../fixtures.js';
import { countIn, execute, onBothEngines, selectRows } from '../../engines.js';

/** Campaign membership as sorted value lists, independent of random ids. */
async function groups(storage: Storage): Promise<string[][]> {
  const rows = await selectRows<{ id: string; value: string }>(
    storage,
    `SELECT c.id, i.value FROM campaigns c JOIN campaign_iocs m ON m.campaign_id = c.id JOIN iocs i ON i.id = m.ioc_id
     WHERE c.formed_at IS NOT NULL ORDER BY i.value`,
  );
  const byId = new Map<string, string[]>();
  for (const row of rows) byId.set(row.id, [...(byId.get(row.id) ?? []), row.value]);
  return [...byId.values()].sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** When each campaign was last marked updated. */
const updatedAt = (storage: Storage) => selectRows<{ id: string; updated_at: string }>(storage, `SELECT id, updated_at FROM campaigns ORDER BY id`);

async function seed(h: IntelHarnessOn): Promise<void> {
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

onBothEngines('the result does not depend on how reports are batched, and re-running changes nothing', async (t, engine) => {
  const whole = await buildIntelHarnessOn(t, engine);
  await seed(whole);
  t.equal(await whole.correlate(), await countIn(whole.storage, 'sightings'));
  const expected = await groups(whole.storage);
  t.same(expected, [
    ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4'],
    ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'],
  ]);
  t.equal(await countIn(whole.storage, 'campaigns'), 3, 'the c2 pair is kept as a group below campaign size');

  const oneByOne = await buildIntelHarnessOn(t, engine);
  await seed(oneByOne);
  const { correlation } = oneByOne.jobs;
  t.ok(await correlation.hasPending());
  let batches = 0;
  while ((await correlation.runBatch(1)) > 0) batches++;
  t.equal(batches, await countIn(oneByOne.storage, 'sightings'));
  t.notOk(await correlation.hasPending());
  t.same(await groups(oneByOne.storage), expected);

  const events = await countIn(oneByOne.storage, 'campaign_events');
  const updated = await updatedAt(oneByOne.storage);
  await execute(oneByOne.storage, `UPDATE intel_state SET value = 0`);
  await oneByOne.correlate();
  t.same(await groups(oneByOne.storage), expected, 'reprocessing every report is idempotent');
  t.equal(await countIn(oneByOne.storage, 'campaign_events'), events, 'no timeline noise from a re-run');
  t.same(await updatedAt(oneByOne.storage), updated, 'nothing marked updated');
});

onBothEngines('correlateNow runs in the caller\'s transaction: an unknown IoC is in no campaign', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const correlator = createCorrelator(storage, new ManualClock());
  t.equal(await storage.transaction({ durable: false, locks: [CAMPAIGNS_LOCK] }, (tx) => correlator.correlateNow(tx, ['ioc_unknown'])), null);
});

onBothEngines('aggregate memo: one computation per second while the data is unchanged', async (t, engine) => {
  const { createAggregateMemo } = await import('../../../src/threat-cloud/intel/services/memo.js');
  const { createDataVersionStore } = await import('../../../src/threat-cloud/intel/stores/data-version.js');
  const h = await buildIntelHarnessOn(t, engine);
  const memo = createAggregateMemo(createDataVersionStore(h.storage), h.clock);
  let computed = 0;
  const compute = () => ++computed;
  t.equal(await memo('x', { a: 1 }, compute), 1);
  t.equal(await memo('x', { a: 1 }, compute), 1, 'same data, same second: reused');
  t.equal(await memo('x', { a: 2 }, compute), 2, 'other parameters: computed');
  await report(h, [{ type: 'ip', value: '198.51.100.1' }]);
  t.equal(await memo('x', { a: 1 }, compute), 3, 'a new report: computed again');
  h.clock.advance(1000);
  t.equal(await memo('x', { a: 1 }, compute), 4, 'the next second: computed again');
  await execute(h.storage, `UPDATE intel_state SET value = value + 1`);
  t.equal(await memo('x', { a: 1 }, compute), 5, 'correlation progressed: computed again');
});
