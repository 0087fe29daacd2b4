import type { Test } from 'tap';
import { ManualClock } from '../../../src/shared/clock.js';
import { createAggregateMemo } from '../../../src/threat-cloud/intel/services/memo.js';
import { createDataVersionStore } from '../../../src/threat-cloud/intel/stores/data-version.js';
import { bareStorageOn, execute, onBothEngines } from '../fixtures.js';
import type { Engine } from '../../engines.js';

/** The analytics memo over the real data version: one computation per data version and second. */
async function memoOverDatabase(t: Test, engine: Engine) {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock(Date.parse('2026-03-07T12:00:00.000Z'));
  return { storage, clock, memo: createAggregateMemo(createDataVersionStore(storage), clock) };
}

onBothEngines('answers that arrive later are shared by the requests asking meanwhile, and kept like the others', async (t, engine) => {
  const { memo } = await memoOverDatabase(t, engine);
  let computed = 0;
  const slow = () => {
    computed += 1;
    return new Promise<number>((resolve) => setImmediate(() => resolve(42)));
  };
  const [a, b] = await Promise.all([memo('geo', { period: '7d' }, slow), memo('geo', { period: '7d' }, slow)]);
  t.same([a, b, computed], [42, 42, 1], 'two requests, one computation');
  t.equal(await memo('geo', { period: '7d' }, slow), 42);
  t.equal(computed, 1, 'still the same answer within the second and data version');
  t.equal(await memo('geo', { period: '30d' }, slow), 42);
  t.equal(computed, 2, 'other parameters compute their own');
});

onBothEngines('a failed answer is forgotten: the next request computes again', async (t, engine) => {
  const { memo } = await memoOverDatabase(t, engine);
  let attempts = 0;
  const flaky = async () => {
    attempts += 1;
    if (attempts === 1) throw new Error('database is locked');
    return 'fine';
  };
  await t.rejects(memo('trends', {}, flaky), /database is locked/);
  t.equal(await memo('trends', {}, flaky), 'fine');
  t.equal(attempts, 2);
});

onBothEngines('new data or a new second computes again', async (t, engine) => {
  const { memo, storage, clock } = await memoOverDatabase(t, engine);
  let computed = 0;
  const count = () => ++computed;
  t.equal(await memo('heatmap', {}, count), 1);
  t.equal(await memo('heatmap', {}, count), 1, 'same version, same second');
  clock.advance(1000);
  t.equal(await memo('heatmap', {}, count), 2, 'the next second');
  t.equal(await execute(storage, `UPDATE tc_state SET value = value + 1 WHERE name = 'seq'`), 1);
  t.equal(await memo('heatmap', {}, count), 3, 'the change sequence moved (a new or changed IoC)');
});
