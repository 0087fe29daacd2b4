import { createHook } from 'node:async_hooks';

/** The tick object kept for the life of the process (see keepTickObjectShape). */
let kept: object | null = null;

/**
 * Keeps one of Node's `process.nextTick` tick objects alive for the life of the process, so
 * that the hidden classes V8 builds for them are never collected.
 *
 * Why: Node 20 builds every tick as `{ [async_id_symbol]: …, [trigger_async_id_symbol]: …,
 * callback, args }`. V8 records, per computed key of that literal, the hidden class it saw
 * first. Those classes live only as long as some tick object does; after a few full garbage
 * collections with no tick queued (an idle process: V8's memory reducer runs exactly then) they
 * are collected and built anew, the record no longer matches, and V8 sends that literal down
 * its generic path for good. Node's streams call `nextTick` about fifteen times per HTTP
 * request, so every request then costs about 36,600 more instructions (a `/health` answer
 * 83,400 → 121,300, callgrind), for as long as the process runs. A kept tick object holds its
 * hidden class, and through it every class the literal passes on the way, for good.
 *
 * Costs one async hook for one tick at start-up; the hook is off again before this returns.
 * Calling it twice keeps the first object.
 */
export function keepTickObjectShape(): void {
  if (kept !== null) return;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject' && kept === null) kept = resource;
    },
  });
  hook.enable();
  try {
    process.nextTick(() => {});
  } finally {
    hook.disable();
  }
}

/** The kept tick object, null before keepTickObjectShape ran (the test compares hidden classes with it). */
export function keptTickObject(): object | null {
  return kept;
}
