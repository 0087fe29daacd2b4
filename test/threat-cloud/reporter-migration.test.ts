import t, { type Test } from 'tap';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { encodeCursor } from '../../src/threat-cloud/stores/feeds.js';
import { ROLLUP_FROM_SCRATCH_SQL } from '../../src/migrations/006-intel-rollups.js';
import { createCorrelator } from '../../src/threat-cloud/intel/services/correlation.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';
import { createIocService } from '../../src/threat-cloud/services/ioc-merge.js';
import { computeReputation, type Severity } from '../../src/threat-cloud/reputation.js';
import { DAY_MS } from '../../src/shared/time.js';
import { seedIocs } from '../../src/threat-cloud/seed.js';
import { testConfig } from '../helper.js';
import { BOOTSTRAP_KEY, buildThreatCloud } from './fixtures.js';

/**
 * Migration 8 rewrites what the Manager bridge stored while it trusted the org an agent
 * claimed: reporters `org:<x>` become `user:<x>` when x is a user's id, else the one
 * reporter `manager`; guard-agent sighting contexts lose their event and agent ids; reporter
 * counts, reputations, feeds and campaign reporter counts follow.
 */
const REPORTER_MIGRATION = 8;
const BEFORE = MIGRATIONS.filter((m) => m.version < REPORTER_MIGRATION);

/** A database as the build before migration 8 left it; its clock is real time, so decay is nil. */
function oldDatabase(t: Test) {
  const config = testConfig(t);
  const db = openDatabase(config.databasePath);
  t.teardown(() => closeDatabase(db));
  migrate(db, BEFORE);
  t.equal(db.pragma('user_version', { simple: true }), BEFORE.at(-1)!.version);
  const clock = new ManualClock(Date.now());
  const iocs = createIocService(sqliteStorageOf(db), clock);
  let eventNo = 0;
  /** Exactly what the old bridge wrote for one event of an agent in `org`. */
  const storage = sqliteStorageOf(db);
  const fleetReport = (ip: string, org: string, extra: { severity?: Severity; confidence?: number; category?: 'scanner' } = {}) =>
    storage.transaction({ durable: false }, (tx) =>
      iocs.mergeReport(
        tx,
        {
          type: 'ip',
          value: ip,
          source: 'guard-agent',
          kind: 'upload',
          category: extra.category ?? 'bruteforce',
          severity: extra.severity ?? 'critical',
          confidence: extra.confidence ?? 0.9,
          context: { eventId: `evt_${++eventNo}`, agentId: `agent-of-${org}`, type: 'brute_force' },
        },
        `org:${org}`,
      ),
    );
  /** A report through a Threat Cloud key (a user's, or a bootstrap key's). */
  const keyReport = (ip: string, reporter: string, context?: Record<string, unknown>) =>
    storage.transaction({ durable: false }, (tx) =>
      iocs.mergeReport(
        tx,
        { type: 'ip', value: ip, source: 'test-sensor', kind: 'upload', category: 'bruteforce', severity: 'critical', confidence: 0.9, ...(context ? { context } : {}) },
        reporter,
      ),
    );
  const addUser = (id: string) =>
    db.prepare(`INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (?, ?, 'U', 'x', 'now', 'now')`).run(id, `${id}@example.com`);
  return { db, clock, config, fleetReport, keyReport, addUser };
}

type IocRow = { value: string; reporters: number; sightings: number; reputation: number; change_seq: number; updated_at: string; status: string };
const iocOf = (db: Db, value: string) => db.prepare(`SELECT * FROM iocs WHERE value = ?`).get(value) as IocRow;
const reportersOf = (db: Db, value: string) =>
  db.prepare(`SELECT r.reporter_id FROM ioc_reporters r JOIN iocs i ON i.id = r.ioc_id WHERE i.value = ? ORDER BY 1`).pluck().all(value);
const seq = (db: Db) => (db.prepare(`SELECT value FROM tc_state WHERE name = 'seq'`).get() as { value: number }).value;
const counters = (db: Db) => ({
  counts: db.prepare(`SELECT * FROM ioc_counts ORDER BY 1, 2, 3`).all(),
  hourly: db.prepare(`SELECT * FROM intel_hourly WHERE new_iocs <> 0 OR sightings <> 0 ORDER BY 1, 2, 3`).all(),
});

t.test('migration 8 merges org reporters into users and the Manager, rescoring, feeding and cleaning as it goes', async (t) => {
  const old = oldDatabase(t);
  const { db } = old;
  const USER = 'usr_owner';
  old.addUser(USER);

  // Two invented orgs corroborated 9.9.9.9 onto the blocklist.
  await old.fleetReport('9.9.9.9', 'invented-a');
  await old.fleetReport('9.9.9.9', 'invented-b');
  // A user's key and the user's own agent corroborated 198.51.100.9.
  await old.keyReport('198.51.100.9', `user:${USER}`, { eventId: 'the user chose this', note: 'kept' });
  await old.fleetReport('198.51.100.9', USER);
  // The user's agent and a bootstrap key are independent: still two reporters.
  await old.fleetReport('203.0.113.5', USER);
  await old.keyReport('203.0.113.5', 'key:bootstrap');
  // Three reporters, two of them invented orgs: two remain, a lower score but still listed.
  await old.fleetReport('203.0.113.6', 'invented-a');
  await old.fleetReport('203.0.113.6', 'invented-b');
  await old.keyReport('203.0.113.6', 'key:bootstrap');
  // A campaign of three IPs in one /24, each from another invented org.
  for (const [n, org] of ['x', 'y', 'z'].entries()) await old.fleetReport(`192.0.2.${n + 1}`, `org-${org}`, { category: 'scanner', severity: 'medium', confidence: 0.5 });
  const correlator = createCorrelator(sqliteStorageOf(db), old.clock);
  while ((await correlator.runBatch()) > 0);

  const before = {
    attacked: iocOf(db, '9.9.9.9'),
    selfCorroborated: iocOf(db, '198.51.100.9'),
    independent: iocOf(db, '203.0.113.5'),
    three: iocOf(db, '203.0.113.6'),
    seq: seq(db),
    counters: counters(db),
  };
  t.match(before.attacked, { reporters: 2, reputation: 24 }, 'the old bridge blocklisted it');
  t.match(before.selfCorroborated, { reporters: 2, reputation: 24 });
  t.match(before.independent, { reporters: 2, reputation: 24 });
  t.match(before.three, { reporters: 3, reputation: 5 });
  t.same(db.prepare(`SELECT affected_orgs FROM campaigns WHERE formed_at IS NOT NULL`).pluck().all(), [3]);

  const cacheSize = db.pragma('cache_size', { simple: true });
  const applied = migrate(db, MIGRATIONS);
  t.equal(applied[0], REPORTER_MIGRATION, 'the step ran');
  t.equal(db.pragma('cache_size', { simple: true }), cacheSize, "the step's larger page cache is given back");
  t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.at(-1)!.version);

  t.test('reporters are rewritten and recounted', async (t) => {
    t.same(reportersOf(db, '9.9.9.9'), ['manager']);
    t.same(reportersOf(db, '198.51.100.9'), [`user:${USER}`]);
    t.same(reportersOf(db, '203.0.113.5'), ['key:bootstrap', `user:${USER}`]);
    t.same(reportersOf(db, '203.0.113.6'), ['key:bootstrap', 'manager']);
    t.match(iocOf(db, '9.9.9.9'), { reporters: 1, sightings: 2 });
    t.match(iocOf(db, '198.51.100.9'), { reporters: 1, sightings: 2 });
    t.match(iocOf(db, '203.0.113.5'), { reporters: 2 });
    t.match(iocOf(db, '203.0.113.6'), { reporters: 2, sightings: 3 });
    t.equal(db.prepare(`SELECT count(*) FROM ioc_reporters WHERE reporter_id LIKE 'org:%'`).pluck().get(), 0);
    t.equal(db.prepare(`SELECT count(*) FROM sightings WHERE reporter_id LIKE 'org:%'`).pluck().get(), 0);
    t.same(
      db.prepare(`SELECT i.value, s.reporter_id FROM sightings s JOIN iocs i ON i.id = s.ioc_id WHERE i.value IN ('9.9.9.9', '198.51.100.9') ORDER BY 1, 2`).all(),
      [
        { value: '198.51.100.9', reporter_id: `user:${USER}` },
        { value: '198.51.100.9', reporter_id: `user:${USER}` },
        { value: '9.9.9.9', reporter_id: 'manager' },
        { value: '9.9.9.9', reporter_id: 'manager' },
      ],
      'each report names its new reporter',
    );
    const mismatched = db.prepare(`SELECT count(*) FROM iocs i WHERE reporters <> (SELECT count(*) FROM ioc_reporters r WHERE r.ioc_id = i.id)`).pluck().get();
    t.equal(mismatched, 0, 'every reporters count equals its reporter rows');
  });

  t.test('reputations are rescored; the ones that left the blocklist entered the change sequence', async (t) => {
    const attacked = iocOf(db, '9.9.9.9');
    const selfCorroborated = iocOf(db, '198.51.100.9');
    t.equal(attacked.reputation, 43, 'one reporter, two reports: capped corroboration');
    t.equal(selfCorroborated.reputation, 43);
    t.ok(attacked.change_seq > before.seq && selfCorroborated.change_seq > before.seq, 'new positions after every earlier change');
    t.not(attacked.updated_at, before.attacked.updated_at);
    t.equal(seq(db), before.seq + 2, 'exactly the two crossings entered the sequence');
    const independent = iocOf(db, '203.0.113.5');
    t.match(independent, { reputation: 24, change_seq: before.independent.change_seq, updated_at: before.independent.updated_at }, 'unchanged');
    const three = iocOf(db, '203.0.113.6');
    t.equal(three.reputation, 10, 'three reports, two reporters');
    t.equal(three.change_seq, before.three.change_seq, 'a new score on the same side of the threshold is updated in place');
  });

  t.test('sighting contexts of fleet reports keep the event type only; key reports keep what their reporter sent', async (t) => {
    const contexts = db.prepare(`SELECT s.reporter_id, s.context FROM sightings s JOIN iocs i ON i.id = s.ioc_id WHERE i.value = '198.51.100.9' ORDER BY s.rowid`).all();
    t.same(contexts, [
      { reporter_id: `user:${USER}`, context: JSON.stringify({ eventId: 'the user chose this', note: 'kept' }) },
      { reporter_id: `user:${USER}`, context: JSON.stringify({ type: 'brute_force' }) },
    ]);
    t.equal(db.prepare(`SELECT count(*) FROM sightings WHERE source = 'guard-agent' AND context <> '{"type":"brute_force"}'`).pluck().get(), 0);
    t.equal(db.prepare(`SELECT count(*) FROM sightings WHERE context LIKE '%agent-of-%' OR context LIKE '%evt\\_%' ESCAPE '\\'`).pluck().get(), 0);
  });

  t.test('campaign reporter counts follow; trigger-kept counters are untouched and still exact', async (t) => {
    const campaign = db.prepare(`SELECT affected_orgs, description FROM campaigns WHERE formed_at IS NOT NULL`).get() as { affected_orgs: number; description: string };
    t.equal(campaign.affected_orgs, 1, 'three invented orgs are the one Manager');
    t.match(campaign.description, /reported by 1 reporter /);
    t.same(counters(db), before.counters);
    t.same(counters(db).hourly, db.prepare(`${ROLLUP_FROM_SCRATCH_SQL} ORDER BY 1, 2, 3`).all());
  });

  t.test('through the Threat Cloud: off the blocklist, and incremental consumers see the change', async (t) => {
    const tc = await buildThreatCloud(t, { db });
    const blocklist = (await tc.inject({ url: '/api/feeds/ip-blocklist' })).body.split('\n');
    t.notOk(blocklist.includes('9.9.9.9'), 'two invented orgs no longer blocklist an address');
    t.notOk(blocklist.includes('198.51.100.9'), 'a user no longer corroborates themself');
    t.ok(blocklist.includes('203.0.113.5') && blocklist.includes('203.0.113.6'), 'independent reporters still do');
    const feed = await tc.inject({ url: `/api/feeds/iocs?maxReputation=30&cursor=${encodeCursor(before.seq)}`, headers: { authorization: `Bearer ${BOOTSTRAP_KEY}` } });
    t.equal(feed.statusCode, 200, feed.body);
    const body = feed.json().data as { count: number; iocs: unknown[]; removed: Array<{ value: string }> };
    t.same(body.iocs, []);
    t.same(body.removed.map((item) => item.value).sort(), ['198.51.100.9', '9.9.9.9'], 'both are listed as removed since the last sync');
    const lookup = (await tc.inject({ url: '/api/iocs/9.9.9.9' })).json().data as { reputation: number; reputationFactors: { reporters: number } };
    t.match(lookup, { reputation: 43, reputationFactors: { reporters: 1 } });
  });
});

t.test('migration 8 on a larger file: every IoC ends with the reporters and reputation the formula gives', async (t) => {
  const old = oldDatabase(t);
  const { db } = old;
  seedIocs(db, { count: 2_000 });
  const users = ['usr_a', 'usr_b'];
  for (const id of users) old.addUser(id);
  const orgs = ['usr_a', 'usr_b', 'o1', 'o2', 'o3'];
  const values = Array.from({ length: 600 }, (_, i) => `203.0.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const expected = new Map<string, Set<string>>();
  for (const [i, value] of values.entries()) {
    const reporters = new Set<string>();
    // A few reports per IoC from a mix of orgs and keys, chosen by index so the run is fixed.
    for (let k = 0; k <= i % 4; k++) {
      const pick = (i * 7 + k * 3) % 7;
      if (pick < orgs.length) {
        const org = orgs[pick]!;
        await old.fleetReport(value, org, { severity: (['low', 'medium', 'high', 'critical'] as const)[i % 4], confidence: [0.5, 0.9, 1][i % 3] });
        reporters.add(users.includes(org) ? `user:${org}` : 'manager');
      } else {
        const reporter = pick === 5 ? 'user:usr_a' : 'key:boot';
        await old.keyReport(value, reporter);
        reporters.add(reporter);
      }
    }
    expected.set(value, reporters);
  }
  const seeded = db.prepare(`SELECT id, reputation, reporters, change_seq FROM iocs WHERE source = 'seed' ORDER BY id`).all();

  migrate(db, MIGRATIONS);

  const now = Date.now();
  const rows = db.prepare(`SELECT value, severity, confidence, sightings, reporters, trap, last_seen, reputation FROM iocs WHERE value IN (SELECT value FROM json_each(?))`).all(JSON.stringify(values)) as Array<{
    value: string; severity: Severity; confidence: number; sightings: number; reporters: number; trap: number; last_seen: string; reputation: number;
  }>;
  t.equal(rows.length, new Set(values).size);
  let wrong = 0;
  for (const row of rows) {
    const want = expected.get(row.value)!;
    const score = computeReputation({ severity: row.severity, confidence: row.confidence, reports: row.sightings, reporters: want.size, trap: row.trap === 1, days: (now - Date.parse(row.last_seen)) / DAY_MS });
    if (row.reporters !== want.size || row.reputation !== score) wrong++;
    if (JSON.stringify(reportersOf(db, row.value)) !== JSON.stringify([...want].sort())) wrong++;
  }
  t.equal(wrong, 0, 'reporters and reputations as the formula gives them');
  t.same(
    db.prepare(`SELECT id, reputation, reporters, change_seq FROM iocs WHERE source = 'seed' ORDER BY id`).all(),
    seeded,
    'IoCs no fleet agent reported are left alone',
  );
});
