import { toIso } from '../shared/clock.js';
import type { Db } from '../shared/db/open.js';
import { CATEGORIES } from './stores/iocs.js';
import { LISTING_TRIGGER_PREFIX, RANK_COUNTS_FROM_IOCS, SOURCE_COUNTS_FROM_IOCS, SOURCE_RANK_FROM_IOCS } from './stores/listing-fills.js';
import { REPUTATION_SQL, SEVERITIES } from './reputation.js';
import { DAY_MS } from '../shared/time.js';

export interface SeedOptions {
  count: number;
  /** Time the IoCs are seen at (last seen spread over the 30 days before). */
  now?: number;
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
 * reporters, sources, one sighting each and stored reputations. The rows are generated
 * inside SQLite (a recursive CTE, the reputation formula in SQL), and secondary indexes are
 * rebuilt once at the end instead of being updated per row, all in one transaction.
 * For benchmarks and load tests; returns the number inserted.
 */
export function seedIocs(db: Db, options: SeedOptions): number {
  const now = options.now ?? Date.now();
  const nowIso = toIso(now);
  const seqBase = (db.prepare(`SELECT value FROM tc_state WHERE name = 'seq'`).get() as { value: number }).value;
  const before = (db.prepare(`SELECT coalesce(max(rowid), 0) AS n FROM iocs`).get() as { n: number }).n;
  const offset = (db.prepare(`SELECT count(*) AS n FROM iocs`).get() as { n: number }).n;
  const categories = CATEGORIES.map((category, index) => `WHEN ${index} THEN '${category}'`).join(' ');
  const severities = SEVERITIES.map((severity, index) => `WHEN ${index} THEN '${severity}'`).join(' ');
  const insert = db.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @count),
    g AS MATERIALIZED (
      SELECT i, @offset + i AS k, @ipBase + @offset + i AS ipn,
        strftime('%Y-%m-%dT%H:%M:%fZ', (@nowMs - abs(random()) % ${30 * DAY_MS}) / 1000.0, 'unixepoch') AS seen
      FROM n)
    INSERT OR IGNORE INTO iocs (id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap,
      source, sources, metadata, country, first_seen, last_seen, updated_at, change_seq)
    SELECT 'ioc_' || @tag || printf('%010x', k) || lower(hex(randomblob(8))),
      CASE WHEN @ipOnly = 1 OR i % 10 <> 9 THEN 'ip' ELSE 'domain' END,
      CASE WHEN @ipOnly = 1 OR i % 10 <> 9
        THEN (ipn >> 24) || '.' || ((ipn >> 16) & 255) || '.' || ((ipn >> 8) & 255) || '.' || (ipn & 255)
        ELSE 'seed-' || k || '.example.net' END,
      100, 'active',
      CASE abs(random()) % ${CATEGORIES.length} ${categories} END,
      CASE abs(random()) % 4 ${severities} END,
      0.5 + (abs(random()) % 51) / 100.0, 1, 1 + abs(random()) % 3, abs(random()) % 5 = 0,
      'seed', '["seed"]', '{}', NULL, seen, seen, seen, @seqBase + i + 1
    FROM g`);
  const rescore = db.prepare(`UPDATE iocs SET reputation = ${REPUTATION_SQL} WHERE rowid > @before`);
  const reporters = db.prepare(
    `INSERT INTO ioc_reporters (ioc_id, reporter_id, first_seen)
     SELECT id, 'seed:' || r.n, first_seen FROM iocs, (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3) AS r
     WHERE iocs.rowid > @before AND r.n <= iocs.reporters`,
  );
  const sources = db.prepare(`INSERT INTO ioc_sources (source, ioc_id) SELECT 'seed', id FROM iocs WHERE rowid > @before`);
  const sightings = db.prepare(
    `INSERT INTO sightings (id, ioc_id, kind, source, reporter_id, context, created_at)
     SELECT 'sig_' || substr(id, 5), id, 'upload', 'seed', 'seed:1', NULL, first_seen FROM iocs WHERE rowid > @before`,
  );
  const setSeq = db.prepare(`UPDATE tc_state SET value = (SELECT max(change_seq) FROM iocs), updated_at = ? WHERE name = 'seq'`);

  // A large page cache keeps the index pages in memory while a million rows go in.
  const previousCache = db.pragma('cache_size', { simple: true }) as number;
  db.pragma('cache_size = -524288');
  // The index rebuilds sort a million rows: on disk, as migrations do, not in memory.
  const previousTempStore = db.pragma('temp_store', { simple: true }) as number;
  db.pragma('temp_store = FILE');
  const indexes = db
    .prepare<[], { name: string; sql: string }>(
      `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('iocs', 'sightings', 'ioc_reporters', 'ioc_sources')`,
    )
    .all()
    .filter((index) => !index.sql.includes('UNIQUE'));
  // The per-row count trigger is replaced by one aggregate at the end.
  const countTrigger = db.prepare<[], { sql: string }>(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'iocs_count_insert'`).get()!.sql;
  const addCounts = db.prepare(
    `INSERT INTO ioc_counts (type, category, status, n)
     SELECT type, coalesce(category, ''), status, count(*) FROM iocs WHERE rowid > @before GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
     ON CONFLICT (type, category, status) DO UPDATE SET n = n + excluded.n`,
  );
  // So are the hourly roll-up's per-row triggers (every seeded IoC is active) and the list
  // counters' (migration 10), filled below from the new rows at once.
  const rollupTriggers = db
    .prepare<[string], { name: string; sql: string }>(
      `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND (name LIKE 'intel_hourly_%' OR name LIKE ? || '%')`,
    )
    .all(LISTING_TRIGGER_PREFIX);
  // A file at an older schema version (migration tests seed those) has no list counters yet.
  const listed = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ioc_rank_counts'`).get() !== undefined;
  const fillListCounters = (inserted: number) => {
    if (!listed) return;
    db.prepare(RANK_COUNTS_FROM_IOCS('rowid > @before')).run({ before });
    if (options.childRows !== false) {
      db.prepare(SOURCE_RANK_FROM_IOCS('i.rowid > @before')).run({ before });
      db.prepare(SOURCE_COUNTS_FROM_IOCS('i.rowid > @before')).run({ before });
      db.prepare(
        `INSERT INTO tc_report_hours (hour, category, n)
         SELECT substr(first_seen, 1, 13), coalesce(category, ''), count(*) FROM iocs WHERE rowid > @before GROUP BY 1, 2 ORDER BY 1, 2
         ON CONFLICT (hour, category) DO UPDATE SET n = n + excluded.n`,
      ).run({ before });
    }
    db.prepare(
      `UPDATE tc_list_totals SET n = CASE name WHEN 'reports' THEN n + @reports WHEN 'sources' THEN (SELECT count(*) FROM tc_sources) ELSE n END`,
    ).run({ reports: options.childRows !== false ? inserted : 0 });
  };
  const addRollup = db.prepare(
    `INSERT INTO intel_hourly (hour, type, category, new_iocs, sightings)
     SELECT substr(first_seen, 1, 13), type, coalesce(category, ''), count(*), @withSightings * count(*) FROM iocs WHERE rowid > @before
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
     ON CONFLICT (hour, type, category) DO UPDATE SET new_iocs = new_iocs + excluded.new_iocs, sightings = sightings + excluded.sightings`,
  );
  try {
    return db.transaction(() => {
      db.exec('DROP TRIGGER iocs_count_insert');
      for (const trigger of rollupTriggers) db.exec(`DROP TRIGGER ${trigger.name}`);
      for (const index of indexes) db.exec(`DROP INDEX ${index.name}`);
      const inserted = insert.run({
        count: options.count,
        offset,
        ipBase: 0x0b000000,
        nowMs: now,
        tag: now.toString(16),
        ipOnly: options.ipOnly ? 1 : 0,
        seqBase,
      }).changes;
      addCounts.run({ before });
      db.exec(countTrigger);
      rescore.run({ before, now: now / DAY_MS + 2440587.5 });
      if (options.childRows !== false) {
        reporters.run({ before });
        sources.run({ before });
        sightings.run({ before });
        db.prepare(`INSERT INTO tc_sources (source, first_seen) VALUES ('seed', ?) ON CONFLICT DO NOTHING`).run(nowIso);
      }
      // One sighting per IoC, at its first_seen (see `sightings` above).
      addRollup.run({ before, withSightings: options.childRows !== false ? 1 : 0 });
      for (const trigger of rollupTriggers) db.exec(trigger.sql);
      setSeq.run(nowIso);
      for (const index of indexes) db.exec(index.sql);
      // The list counters last: the source copy joins on the IoC-id index made just above.
      fillListCounters(inserted);
      return inserted;
    })();
  } finally {
    db.pragma(`cache_size = ${previousCache}`);
    db.pragma(`temp_store = ${previousTempStore}`);
  }
}
