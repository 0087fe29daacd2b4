import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const MODULE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/shared/tick-shape.ts');

/**
 * A child process (V8 natives and `gc()` exposed) that keeps a tick object, schedules ticks,
 * then runs full collections from a timer, when no tick is queued (what an idle server's memory
 * reducer does), and reports whether a tick object made afterwards has the kept one's hidden
 * class. Without a kept object V8 collects and rebuilds those classes and sends Node's tick
 * literal down its generic path for good (README, "Eleventh session").
 */
const CHILD = `
import { createHook } from 'node:async_hooks';
import { keepTickObjectShape, keptTickObject } from ${JSON.stringify(MODULE)};
keepTickObjectShape();
keepTickObjectShape();
function freshTickObject() {
  let made = null;
  const hook = createHook({ init(_id, type, _trigger, resource) { if (type === 'TickObject' && made === null) made = resource; } });
  hook.enable();
  process.nextTick(() => {});
  hook.disable();
  return made;
}
let ran = 0;
for (let i = 0; i < 20000; i++) process.nextTick(() => { ran++; });
setTimeout(() => {
  for (let i = 0; i < 6; i++) globalThis.gc();
  const kept = keptTickObject();
  const fresh = freshTickObject();
  process.stdout.write(JSON.stringify({
    ran,
    kept: kept !== null,
    keptIsTick: kept !== null && Object.getOwnPropertySymbols(kept).length === 2 && 'callback' in kept,
    sameClassAfterGc: kept !== null && %HaveSameMap(kept, fresh),
  }));
}, 20);
`;

t.test('a kept tick object holds the hidden class of every later tick through idle full collections', async (t) => {
  const out = execFileSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', CHILD], { encoding: 'utf8' });
  const report = JSON.parse(out) as { ran: number; kept: boolean; keptIsTick: boolean; sameClassAfterGc: boolean };
  t.equal(report.ran, 20000, 'the ticks ran before the collections');
  t.equal(report.kept, true, 'a tick object is kept');
  t.equal(report.keptIsTick, true, "it is one of Node's tick objects (two async-id symbols, a callback)");
  t.equal(report.sameClassAfterGc, true, 'a tick made after six full collections has its hidden class: the class was never rebuilt');
});
