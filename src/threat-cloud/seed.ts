import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { derivedPaths, loadConfig } from '../config.js';
import { MIGRATIONS } from '../migrations.js';
import { toIso } from '../shared/clock.js';
import { migrate } from '../shared/db/migrate.js';
import { closeDatabase, openDatabase, type Db } from '../shared/db/open.js';
import { CATEGORIES } from './ioc-store.js';
import { DAY_MS, SEVERITIES, computeReputation } from './reputation.js';

export interface SeedOptions {
  count: number;
  /** Time the IoCs are seen at (last seen spread over the 30 days before). */
  now?: number;
  /** Rows per transaction. */
  batch?: number;
  /** Deterministic pseudo-random sequence. */
  seed?: number;
  /** Only IPs (no domains). */
  ipOnly?: boolean;
  /** Also write reporters, sources and a sighting per IoC (default true); off for fast feed tests. */
  childRows?: boolean;
}

/** The n-th seeded address: 11.0.0.0/8 is public, so a million seeded IPs are all valid. */
export function seededIp(index: number): string {
  const n = 0x0b000000 + index;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * Bulk-loads synthetic IoCs (90 % IPs from 11.0.0.0/8, 10 % domains) with consistent
 * reporters, sources, one sighting each and stored reputations, in large transactions.
 * For benchmarks and load tests; returns the number inserted.
 */
export function seedIocs(db: Db, options: SeedOptions): number {
  const now = options.now ?? Date.now();
  const batch = options.batch ?? 50_000;
  let state = options.seed ?? 42;
  const random = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 2 ** 32;
  };
  const seqRow = db.prepare<[], { value: number }>(`SELECT value FROM tc_state WHERE name = 'seq'`);
  const setSeq = db.prepare<[number, string]>(`UPDATE tc_state SET value = ?, updated_at = ? WHERE name = 'seq'`);
  const insertIoc = db.prepare(
    `INSERT INTO iocs (id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap,
       source, sources, metadata, country, first_seen, last_seen, updated_at, change_seq)
     VALUES (@id, @type, @value, @reputation, 'active', @category, @severity, @confidence, 1, @reporters, @trap,
       'seed', '["seed"]', '{}', NULL, @seen, @seen, @seen, @seq)
     ON CONFLICT (type, value) DO NOTHING`,
  );
  const insertReporter = db.prepare<[string, string, string]>(`INSERT INTO ioc_reporters (ioc_id, reporter_id, first_seen) VALUES (?, ?, ?)`);
  const insertSource = db.prepare<[string]>(`INSERT INTO ioc_sources (source, ioc_id) VALUES ('seed', ?)`);
  const insertSighting = db.prepare<[string, string, string, string]>(
    `INSERT INTO sightings (id, ioc_id, kind, source, reporter_id, context, created_at) VALUES (?, ?, 'upload', 'seed', ?, NULL, ?)`,
  );
  db.prepare(`INSERT INTO tc_sources (source, first_seen) VALUES ('seed', ?) ON CONFLICT DO NOTHING`).run(toIso(now));

  // A large page cache keeps the index pages in memory while a million rows go in.
  const previousCache = db.pragma('cache_size', { simple: true }) as number;
  db.pragma('cache_size = -524288');
  const existing = (db.prepare(`SELECT count(*) AS n FROM iocs`).get() as { n: number }).n;
  let inserted = 0;
  const runTag = Date.now().toString(16);
  const runBatch = db.transaction((from: number, to: number) => {
    let seq = seqRow.get()!.value;
    for (let i = from; i < to; i += 1) {
      const index = existing + i;
      const isIp = options.ipOnly === true || i % 10 !== 9;
      const severity = SEVERITIES[Math.floor(random() * 4)]!;
      const confidence = Math.round((0.5 + random() * 0.5) * 100) / 100;
      const reporters = 1 + Math.floor(random() * 3);
      const trap = random() < 0.2;
      const seenMs = now - Math.floor(random() * 30 * DAY_MS);
      const seen = toIso(seenMs);
      // Ids in insertion order (with a random tail) keep primary-key inserts appending.
      const tail = randomUUID().replaceAll('-', '').slice(0, 16);
      const id = `ioc_${runTag}${index.toString(16).padStart(10, '0')}${tail}`;
      const reputation = computeReputation({ severity, confidence, reports: 1, reporters, trap, days: (now - seenMs) / DAY_MS });
      seq += 1;
      const result = insertIoc.run({
        id,
        type: isIp ? 'ip' : 'domain',
        value: isIp ? seededIp(index) : `seed-${index}.example.net`,
        reputation,
        category: CATEGORIES[Math.floor(random() * CATEGORIES.length)]!,
        severity,
        confidence,
        reporters,
        trap: trap ? 1 : 0,
        seen,
        seq,
      });
      if (result.changes === 0) continue;
      inserted += 1;
      if (options.childRows === false) continue;
      for (let r = 1; r <= reporters; r += 1) insertReporter.run(id, `seed:${r}`, seen);
      insertSource.run(id);
      insertSighting.run(`sig_${runTag}${index.toString(16).padStart(10, '0')}${tail}`, id, 'seed:1', seen);
    }
    setSeq.run(seq, toIso(now));
  });
  // Bulk loading: secondary indexes are dropped and rebuilt afterwards (a sort per index
  // instead of a random B-tree insert per row and index), all in one transaction.
  const indexes = db
    .prepare<[], { name: string; sql: string }>(
      `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('iocs', 'sightings', 'ioc_reporters', 'ioc_sources')`,
    )
    .all()
    .filter((index) => !index.sql.includes('UNIQUE'));
  try {
    db.transaction(() => {
      for (const index of indexes) db.exec(`DROP INDEX ${index.name}`);
      for (let from = 0; from < options.count; from += batch) runBatch(from, Math.min(options.count, from + batch));
      for (const index of indexes) db.exec(index.sql);
    })();
  } finally {
    db.pragma(`cache_size = ${previousCache}`);
  }
  return inserted;
}

/** `node --import tsx src/threat-cloud/seed.ts --iocs 1000000` against the configured database. */
function main(argv: string[]): void {
  const flag = argv.indexOf('--iocs');
  const count = flag >= 0 ? Number(argv[flag + 1]) : Number.NaN;
  if (!Number.isInteger(count) || count < 1 || count > 50_000_000) {
    process.stderr.write('usage: npm run seed -- --iocs <count 1-50000000>\n');
    process.exitCode = 2;
    return;
  }
  const { databasePath } = derivedPaths(loadConfig());
  const db = openDatabase(databasePath);
  try {
    migrate(db, MIGRATIONS);
    const started = Date.now();
    const inserted = seedIocs(db, { count });
    process.stdout.write(`seeded ${inserted} IoCs into ${databasePath} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    closeDatabase(db);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
