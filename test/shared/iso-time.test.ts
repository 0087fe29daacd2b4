import t from 'tap';
import { toIso } from '../../src/shared/clock.js';
import { monthPeriod } from '../../src/shared/tiers.js';

// toIso formats each second once and appends the milliseconds: it must still write exactly what
// Date#toISOString writes, whatever order the instants come in, and throw where it throws.
const reference = (ms: number) => new Date(ms).toISOString();

t.test('the same text as toISOString, instant after instant', async (t) => {
  const instants: number[] = [];
  const base = Date.parse('2026-12-07T20:30:54.925Z');
  // Within one second, across second, minute, day and year boundaries, before 1970, at year
  // 10,000 and at the edges of Date's range.
  for (let ms = 0; ms < 2500; ms += 7) instants.push(base + ms);
  for (const edge of ['2026-12-31T23:59:59.998Z', '1969-12-31T23:59:59.001Z', '1970-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
    const at = Date.parse(edge);
    for (let ms = -3; ms <= 3; ms++) instants.push(at + ms);
  }
  instants.push(0, -0, -1, -999, -1000, -1001, 8.64e15, -8.64e15, 8.64e15 - 1, -8.64e15 + 1);
  // A seeded walk that jumps back and forth, so cached seconds are left and met again.
  let seed = 12345;
  let walk = base;
  for (let i = 0; i < 5000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    walk += (seed % 4000) - 1500;
    instants.push(walk);
  }
  let mismatches = 0;
  for (const ms of instants) if (toIso(ms) !== reference(ms)) mismatches++;
  t.equal(mismatches, 0, `all ${instants.length} instants`);
  t.equal(toIso(-1), '1969-12-31T23:59:59.999Z');
  t.equal(toIso(Date.parse('2026-12-07T20:30:54.000Z') + 5), '2026-12-07T20:30:54.005Z');
  t.equal(toIso(Date.parse('2026-12-07T20:30:54.000Z') + 50), '2026-12-07T20:30:54.050Z');
});

t.test('fractions of a millisecond are cut as toISOString cuts them', async (t) => {
  const at = Date.parse('2026-12-07T20:30:54.925Z');
  toIso(at);
  for (const ms of [at + 0.4, at + 0.9, at - 0.5, at + 74.999]) t.equal(toIso(ms), reference(ms), String(ms));
});

t.test('beyond Date and for NaN it throws as toISOString does', async (t) => {
  toIso(8.64e15);
  for (const bad of [8.64e15 + 1, -8.64e15 - 1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => toIso(bad), RangeError, String(bad));
  }
});

t.test('the month of usage counters turns with the UTC month', async (t) => {
  const last = Date.parse('2026-12-31T23:59:59.999Z');
  t.equal(monthPeriod(last - 5), '2026-12');
  t.equal(monthPeriod(last), '2026-12');
  t.equal(monthPeriod(last + 1), '2027-01');
  t.equal(monthPeriod(Date.parse('1969-12-31T23:59:59.999Z')), '1969-12');
});

t.test('instants that alternate between two or three seconds, as a session check does', async (t) => {
  const now = Date.parse('2026-12-07T20:30:54.925Z');
  let mismatches = 0;
  let checked = 0;
  for (let step = 0; step < 3000; step += 3) {
    for (const ms of [now + step, now + step - 30 * 60_000, now + step - 86_400_000 * 400]) {
      checked++;
      if (toIso(ms) !== reference(ms)) mismatches++;
    }
    checked++;
    if (toIso(now + step) !== reference(now + step)) mismatches++;
  }
  t.equal(mismatches, 0, `all ${checked} instants`);
});
