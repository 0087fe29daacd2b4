import t from 'tap';
import { createTurnBatch } from '../../src/shared/turn-batch.js';

/**
 * Calls gathered per event-loop turn (src/shared/turn-batch.ts): what callers rely on is that
 * each call gets its own answer or its own failure, in call order, from what the store holds
 * when the turn ends — never an answer kept from an earlier turn.
 */

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('calls made in one turn run together at its check phase, in order, each with its own answer', async (t) => {
  const ran: string[] = [];
  const read = createTurnBatch(async (key: string) => {
    ran.push(key);
    return `value of ${key}`;
  });
  const answers = Promise.all(['a', 'b', 'a', 'c'].map((key) => read(key)));
  t.same(ran, [], 'nothing runs while the turn is still reading its I/O');
  let ranBeforeALaterImmediate = -1;
  setImmediate(() => (ranBeforeALaterImmediate = ran.length));
  t.same(await answers, ['value of a', 'value of b', 'value of a', 'value of c']);
  t.same(ran, ['a', 'b', 'a', 'c'], 'all four ran, in the order they were asked, duplicates included');
  await nextTurn();
  t.equal(ranBeforeALaterImmediate, 4, 'all four ran in one go at the check phase, before an immediate queued after them');
});

t.test('a call that fails fails alone; the others of its turn get their answers', async (t) => {
  const read = createTurnBatch(async (key: string) => {
    if (key === 'rejects') throw new Error('no such row');
    return key.toUpperCase();
  });
  const throwsAtOnce = createTurnBatch((key: string): Promise<string> => {
    if (key === 'throws') throw new Error('bad statement');
    return Promise.resolve(key);
  });
  const results = await Promise.allSettled([read('x'), read('rejects'), read('y'), throwsAtOnce('throws'), throwsAtOnce('z')]);
  t.same(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    ['X', 'no such row', 'Y', 'bad statement', 'z'],
  );
});

t.test('every turn reads afresh: a change between turns is what the next call sees', async (t) => {
  const store = new Map([['limit', 1]]);
  let flushes = 0;
  let lastFlushTurn = -1;
  let turn = 0;
  const read = createTurnBatch(async (key: string) => {
    if (lastFlushTurn !== turn) {
      flushes += 1;
      lastFlushTurn = turn;
    }
    return store.get(key);
  });
  t.same(await Promise.all([read('limit'), read('limit')]), [1, 1]);
  turn += 1;
  store.set('limit', 2);
  t.equal(await read('limit'), 2, 'the next turn reads the store again');
  await nextTurn();
  turn += 1;
  store.delete('limit');
  t.equal(await read('limit'), undefined, 'and sees a row that is gone as gone');
  t.equal(flushes, 3, 'one run of the batch per turn that asked');
});
