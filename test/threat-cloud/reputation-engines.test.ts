import t from 'tap';
import { toIso } from '../../src/shared/clock.js';
import type { Db } from '../../src/shared/db/open.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { createSqliteStorage } from '../../src/shared/db/sqlite-storage.js';
import { defineStatement, type Storage } from '../../src/shared/db/storage.js';
import { DAY_MS } from '../../src/shared/time.js';
import {
  EXPIRY_DAYS,
  REPUTATION_SQL,
  REPUTATION_SQL_POSTGRES,
  reputationFactors,
  reputationOf,
  SEVERITIES,
  type Severity,
} from '../../src/threat-cloud/reputation.js';
import { CROSS_THRESHOLD, julianDay, RESCORE, STEP_STOP } from '../../src/threat-cloud/stores/reputation-refresh.js';
import { testConfig, testDb, type Teardown } from '../helper.js';
import { mirrorToPostgres, startPostgres } from '../postgres.js';

const cluster = await startPostgres(t);

/** Noon UTC: the present and every whole day before it are exact Julian days, so 30-day steps decay by exact powers of two. */
const NOW_MS = Date.parse('2026-03-07T12:00:00.000Z');
const NOW = julianDay(NOW_MS);
/** SQLite's julianday(): integer milliseconds since the Julian epoch (the Unix epoch is 210866760000000 there) over 86400000.0. */
const julianDayOf = (iso: string) => (Date.parse(iso) + 210866760000000) / 86400000;

interface IocRow {
  id: string;
  severity: Severity;
  confidence: number;
  sightings: number;
  reporters: number;
  trap: 0 | 1;
  last_seen: string;
  status: 'active' | 'revoked' | 'expired' | 'whitelisted';
  reputation: number;
}

/** The JS formula, fed the days the SQL sees: the present minus julianday(last_seen). */
function jsScore(row: Pick<IocRow, 'severity' | 'confidence' | 'sightings' | 'reporters' | 'trap' | 'last_seen'>): number {
  const days = NOW - julianDayOf(row.last_seen);
  return reputationOf(reputationFactors({ severity: row.severity, confidence: row.confidence, reports: row.sightings, reporters: row.reporters, trap: row.trap === 1, days }));
}

/** 100 − threat before rounding, as the formula computes it in doubles. */
function unrounded(row: Pick<IocRow, 'severity' | 'confidence' | 'sightings' | 'reporters' | 'trap' | 'last_seen'>): number {
  const f = reputationFactors({ severity: row.severity, confidence: row.confidence, reports: row.sightings, reporters: row.reporters, trap: row.trap === 1, days: NOW - julianDayOf(row.last_seen) });
  return 100 - f.sev * (0.5 + 0.5 * f.conf) * f.corroboration * 0.5 ** (f.days / 30);
}

/** A small seeded generator, so a failure names the same rows every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Rows whose score sits on a rounding boundary, found by brute force over confidences in
 * hundredths and whole 30-day decays: exactly k + 0.5 before rounding with k even (where
 * rounding halves to even would go down) and odd, and doubles just below k + 0.5 that a
 * 15-digit decimal (PostgreSQL's float8 → numeric) or exact decimal arithmetic turns into k + 0.5.
 */
function boundaryRows(): Array<Omit<IocRow, 'id' | 'status' | 'reputation'>> {
  const evenHalves: Array<Omit<IocRow, 'id' | 'status' | 'reputation'>> = [];
  const oddHalves: typeof evenHalves = [];
  const nearHalves: typeof evenHalves = [];
  for (const severity of SEVERITIES) {
    for (let c = 0; c <= 100; c++) {
      for (let sightings = 1; sightings <= 20; sightings++) {
        for (let reporters = 1; reporters <= Math.min(5, sightings); reporters++) {
          for (const trap of [0, 1] as const) {
            for (const days of [0, 30, 60, 90, 120, 150, 180]) {
              const row = { severity, confidence: c / 100, sightings, reporters, trap, last_seen: toIso(NOW_MS - days * DAY_MS) };
              const x = unrounded(row);
              if (x - Math.floor(x) === 0.5) (Math.floor(x) % 2 === 0 ? evenHalves : oddHalves).push(row);
              else if (Math.abs(x - Math.round(x)) > 0.49 && Number(x.toPrecision(15)) % 1 === 0.5) nearHalves.push(row);
            }
          }
        }
      }
    }
  }
  // Spread over each list rather than its first entries, which share a severity and confidence.
  const spread = <T>(list: T[], n: number) => Array.from({ length: Math.min(n, list.length) }, (_, i) => list[Math.floor((i * list.length) / Math.min(n, list.length))]!);
  return [...spread(evenHalves, 80), ...spread(oddHalves, 40), ...spread(nearHalves, 40)];
}

function buildRows(): IocRow[] {
  const next = random(16);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const rows: IocRow[] = [];
  for (const boundary of boundaryRows()) {
    rows.push({ ...boundary, id: `b${rows.length}`, status: 'active', reputation: Math.floor(next() * 101) });
  }
  for (let i = 0; i < 400; i++) {
    const sightings = 1 + Math.floor(next() * 20);
    const reporters = 1 + Math.floor(next() * Math.min(5, sightings));
    // From a day ahead (a reporter's clock) to 200 days ago, to the millisecond.
    const lastSeen = NOW_MS + DAY_MS - Math.floor(next() * 201 * DAY_MS);
    const row = {
      severity: pick(SEVERITIES),
      confidence: i % 4 === 3 ? Math.round(next() * 1000) / 1000 : pick([0.5, 0.84, 0.9, 1]),
      sightings,
      reporters,
      trap: next() < 0.3 ? 1 : 0,
      last_seen: toIso(lastSeen),
    } as const;
    const status = pick(['active', 'active', 'active', 'active', 'active', 'revoked', 'expired', 'whitelisted'] as const);
    // Mostly the score it had when last seen, as merges leave it; the refresh then decays it.
    const atLastSeen = reputationOf(reputationFactors({ severity: row.severity, confidence: row.confidence, reports: sightings, reporters, trap: row.trap === 1, days: 0 }));
    rows.push({ ...row, id: `r${i}`, status, reputation: next() < 0.8 ? atLastSeen : Math.floor(next() * 101) });
  }
  return rows;
}

const ROWS = buildRows();

/** The same rows on SQLite (rowid in insertion order) and, copied as migrate-data copies them, on PostgreSQL. */
async function bothEngines(t: Teardown): Promise<{ sqlite: Storage; postgres: Storage; db: Db }> {
  const db = testDb(t, testConfig(t));
  const insert = db.prepare(
    `INSERT INTO iocs (id, type, value, reputation, status, severity, confidence, sightings, reporters, trap, source, first_seen, last_seen, updated_at, change_seq)
     VALUES (@id, 'ip', @value, @reputation, @status, @severity, @confidence, @sightings, @reporters, @trap, 'test', @last_seen, @last_seen, @last_seen, @seq)`,
  );
  db.transaction(() => ROWS.forEach((row, i) => insert.run({ ...row, value: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, seq: i + 1 })))();
  const postgres = await openPostgresStorage({ connectionString: await mirrorToPostgres(t, cluster, db), poolSize: 1, statementTimeoutMs: 60_000, ssl: false });
  t.teardown(() => postgres.close());
  return { sqlite: createSqliteStorage(db), postgres, db };
}

const SCORES = defineStatement<{ now: number }, { rid: number; id: string; score: number }>({
  sqlite: `SELECT rowid AS rid, id, ${REPUTATION_SQL} AS score FROM iocs ORDER BY rowid`,
  postgres: `SELECT rowid AS rid, id, ${REPUTATION_SQL_POSTGRES} AS score FROM iocs ORDER BY rowid`,
});

const STATE = defineStatement<void, { rid: number; id: string; reputation: number; status: string; updated_at: string; change_seq: number }>(
  `SELECT rowid AS rid, id, reputation, status, updated_at, change_seq FROM iocs ORDER BY rowid`,
);

t.test('the rows include scores exactly on .5 and just below it', async (t) => {
  const halves = ROWS.filter((row) => unrounded(row) % 1 === 0.5);
  t.ok(halves.filter((row) => Math.floor(unrounded(row)) % 2 === 0).length >= 40, 'halves with an even integer part');
  t.ok(halves.filter((row) => Math.floor(unrounded(row)) % 2 === 1).length >= 20, 'halves with an odd integer part');
  t.ok(ROWS.filter((row) => unrounded(row) % 1 !== 0.5 && Number(unrounded(row).toPrecision(15)) % 1 === 0.5).length >= 20, 'doubles just below a half');
  t.same(new Set(halves.map((row) => row.severity)), new Set(SEVERITIES), 'every severity lands on a half');
  // critical, confidence 0.09, two reports from two reporters with trap: 45.49999999999999, so 45 (46 in decimals).
  t.equal(jsScore({ severity: 'critical', confidence: 0.09, sightings: 2, reporters: 2, trap: 1, last_seen: toIso(NOW_MS) }), 45);
});

t.test('SQLite, PostgreSQL and the JS formula give every row the same score', async (t) => {
  const { sqlite, postgres } = await bothEngines(t);
  const onSqlite = await sqlite.all(SCORES, { now: NOW });
  const onPostgres = await postgres.all(SCORES, { now: NOW });
  t.equal(onSqlite.length, ROWS.length);
  t.strictSame(onPostgres.map((row) => row.id), onSqlite.map((row) => row.id), 'the same rows in the same rowid order');
  const inJs = new Map(ROWS.map((row) => [row.id, jsScore(row)]));
  const disagreements = onSqlite.flatMap((row, i) => {
    const scores = { sqlite: row.score, postgres: onPostgres[i]!.score, js: inJs.get(row.id)! };
    return scores.sqlite === scores.js && scores.postgres === scores.js ? [] : [{ ...ROWS.find((r) => r.id === row.id)!, unrounded: unrounded(ROWS.find((r) => r.id === row.id)!), ...scores }];
  });
  t.strictSame(disagreements, [], 'no row scores differently on any of the three');
});

t.test('each refresh statement changes and finds the same rows on both engines', async (t) => {
  const { sqlite, postgres } = await bothEngines(t);
  const nowIso = toIso(NOW_MS);
  const cutoff = toIso(NOW_MS - EXPIRY_DAYS * DAY_MS);
  const last = ROWS.length;
  const ranges = [
    { lo: 1, hi: 97 },
    { lo: 98, hi: 300 },
    { lo: 301, hi: last },
  ];

  async function refresh(storage: Storage) {
    const log: unknown[] = [];
    const stops = async (when: string) => {
      for (const range of [...ranges, { lo: 1, hi: last }]) {
        for (const changes of [0, 3, 40, 100_000]) {
          const stop = await storage.get(STEP_STOP, { ...range, now: NOW, cutoff, changes });
          log.push([when, 'stop', range.lo, range.hi, changes, stop?.rid ?? null]);
        }
      }
    };
    await stops('before');
    for (const [k, range] of ranges.entries()) {
      const crossed = await storage.run(CROSS_THRESHOLD, { ...range, now: NOW, nowIso, base: 10_000 * (k + 1) });
      const rescored = await storage.run(RESCORE, { ...range, now: NOW });
      log.push(['cross', range.lo, crossed.changes], ['rescore', range.lo, rescored.changes]);
    }
    await stops('after');
    return { log, rows: await storage.all(STATE) };
  }

  const onSqlite = await refresh(sqlite);
  const onPostgres = await refresh(postgres);
  t.strictSame(onPostgres.log, onSqlite.log, 'the same step ends and the same change counts');
  t.strictSame(onPostgres.rows, onSqlite.rows, 'the same reputations, statuses, timestamps and change-sequence positions');

  const crossed = onSqlite.log.filter((entry) => (entry as unknown[])[0] === 'cross').reduce((n: number, entry) => n + ((entry as number[])[2] ?? 0), 0);
  const rescored = onSqlite.log.filter((entry) => (entry as unknown[])[0] === 'rescore').reduce((n: number, entry) => n + ((entry as number[])[2] ?? 0), 0);
  t.ok(crossed > 0, `scores crossed the threshold (${crossed})`);
  t.ok(rescored > 0, `scores changed in place (${rescored})`);

  const byId = new Map(ROWS.map((row) => [row.id, row]));
  const wrong = onSqlite.rows.filter((row) => {
    const before = byId.get(row.id)!;
    return row.reputation !== (before.status === 'whitelisted' ? before.reputation : jsScore(before));
  });
  t.strictSame(wrong, [], 'refreshed rows hold the JS score; whitelisted ones keep theirs');
});
