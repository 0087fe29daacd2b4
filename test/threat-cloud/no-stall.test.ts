import t from 'tap';
import { ManualClock, toIso } from '../../src/shared/clock.js';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { defineStatement, type Storage } from '../../src/shared/db/storage.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { createAuditStore, type AuditAction } from '../../src/threat-cloud/stores/audit.js';
import { COUNT_CAP } from '../../src/shared/capped-total.js';
import { createIocList, type IocFilter } from '../../src/threat-cloud/stores/ioc-list.js';
import { createReputationRefresh } from '../../src/threat-cloud/jobs/refresh.js';
import { createReputationRefreshStore } from '../../src/threat-cloud/stores/reputation-refresh.js';
import { DEFAULT_THRESHOLD, REPUTATION_SQL, REPUTATION_SQL_POSTGRES } from '../../src/threat-cloud/reputation.js';
import { DAY_MS } from '../../src/shared/time.js';
import { seedIocs } from '../../src/threat-cloud/seed.js';
import { seedUnevenIocs } from '../seed.js';
import { authHeader, testConfig, testDb, type Teardown } from '../helper.js';
import { buildIntelHarnessOn, report } from './intel/helper.js';
import { bareStorageOn, buildThreatCloudOn, copyIntoPostgres, onBothEngines, selectRows, threat, userKeyOn } from './fixtures.js';
import { storageOn, type Engine } from '../engines.js';
import { sqliteStorageOf } from '../../src/shared/db/sqlite-storage.js';

/**
 * A migrated database holding the rows `seed` writes with SQLite's own fast SQL: that temp
 * file itself, or a fresh PostgreSQL database they are copied into (as `migrate-data` does).
 */
async function seededStorageOn(t: Teardown, engine: Engine, seed: (db: Db) => void): Promise<Storage> {
  const db = testDb(t, testConfig(t));
  seed(db);
  const postgres = await storageOn(engine);
  if (postgres === undefined) return sqliteStorageOf(db);
  t.teardown(() => postgres.close());
  await copyIntoPostgres(t, postgres, db);
  return postgres;
}

/** The list as a plain query computes it: every row filtered, then sorted (what the indexes must equal). */
async function reference(storage: Storage, filter: IocFilter): Promise<string[]> {
  const where: string[] = ['TRUE'];
  const params: Record<string, unknown> = {};
  for (const key of ['type', 'category', 'status'] as const) {
    if (filter[key] !== undefined) {
      where.push(`${key} = @${key}`);
      params[key] = filter[key];
    }
  }
  if (filter.source !== undefined) {
    where.push('id IN (SELECT ioc_id FROM ioc_sources WHERE source = @source)');
    params.source = filter.source;
  }
  if (filter.minReputation !== undefined) where.push(`reputation >= ${filter.minReputation}`);
  if (filter.maxReputation !== undefined) where.push(`reputation <= ${filter.maxReputation}`);
  if (filter.since !== undefined) {
    where.push('updated_at > @since');
    params.since = filter.since;
  }
  if (filter.q !== undefined) {
    where.push('substr(value, 1, length(@q)) = @q');
    params.q = filter.q;
  }
  const rows = await selectRows<{ value: string }>(
    storage,
    `SELECT value FROM iocs NOT INDEXED WHERE ${where.join(' AND ')} ORDER BY reputation, last_seen DESC, change_seq`,
    // A statement without named parameters takes positional ones (none) on PostgreSQL.
    Object.keys(params).length > 0 ? params : [],
  );
  return rows.map((row) => row.value);
}

function filters(): IocFilter[] {
  const choices: Array<[keyof IocFilter, unknown[]]> = [
    ['type', ['hash', 'domain']],
    ['source', ['rare-feed', 'seed']],
    ['category', ['c2']],
    ['status', ['revoked', 'active']],
    ['minReputation', [40]],
    ['maxReputation', [90]],
    ['since', ['2026-03-02T00:00:00.000Z', '2026-02-20T00:00:00.000Z']],
    ['q', ['11.0.1', 'seed-1', '1']],
  ];
  const out: IocFilter[] = [];
  for (let mask = 0; mask < 1 << choices.length; mask += 1) {
    const filter: Record<string, unknown> = {};
    choices.forEach(([key, values], bit) => {
      if (mask & (1 << bit)) filter[key] = values[(mask >> 3) % values.length];
    });
    out.push(filter as IocFilter);
  }
  return out;
}

onBothEngines('every IoC list filter, combination and page answers as a full sort of the filtered table would', async (t, engine) => {
  const storage = await seededStorageOn(t, engine, (db) => seedUnevenIocs(db, 3_000, Date.parse('2026-03-07T12:00:00.000Z')));
  // Defaults, then thresholds that force each way of reading: stepped walks of a few entries
  // (steps end inside runs of equal reputation and last-seen), and whole small ranges.
  const lists = {
    default: createIocList(storage),
    walked: createIocList(storage, { smallSet: 0, walkStep: 7 }),
    ranges: createIocList(storage, { smallSet: 1e9 }),
  };
  let compared = 0;
  const pages: Array<() => Promise<void>> = [];
  for (const filter of filters()) {
    const expected = await reference(storage, filter);
    for (const [name, list] of Object.entries(lists)) {
      for (const [page, limit] of [[1, 50], [3, 7], [60, 50]] as const) {
        pages.push(async () => {
          const { items, total } = await list.list(filter, page, limit);
          const label = `${name} ${JSON.stringify(filter)} page ${page}×${limit}`;
          if (items.map((ioc) => ioc.value).join('\n') !== expected.slice((page - 1) * limit, page * limit).join('\n')) {
            t.same(items.map((ioc) => ioc.value), expected.slice((page - 1) * limit, page * limit), label);
          }
          if (total !== expected.length) t.equal(total, expected.length, `${label}: total`);
          compared += 1;
        });
      }
    }
  }
  // On PostgreSQL several at once, as the app serves requests: each step of a walk is a round
  // trip there, and one at a time the stepped walks alone take minutes.
  let next = 0;
  await Promise.all(Array.from({ length: storage.engine === 'postgres' ? 8 : 1 }, async () => {
    while (next < pages.length) await pages[next++]!();
  }));
  t.ok(compared > 2000, `${compared} pages compared`);
});

onBothEngines('with since or q, totals above 10,000 read as 10,000; alone, a since or q range is counted exactly', async (t, engine) => {
  const storage = await seededStorageOn(t, engine, (db) => seedIocs(db, { count: 12_000, ipOnly: true, now: Date.parse('2026-03-07T12:00:00.000Z') }));
  const list = createIocList(storage);
  const filter: IocFilter = { q: '11.0.', type: 'ip' };
  const expected = await reference(storage, filter);
  t.ok(expected.length > COUNT_CAP, `${expected.length} match`);
  let page = await list.list(filter, 1, 50);
  t.equal(page.total, COUNT_CAP, 'capped');
  t.same(page.items.map((ioc) => ioc.value), expected.slice(0, 50));
  page = await list.list(filter, 200, 50);
  t.same(page.items.map((ioc) => ioc.value), expected.slice(9_950, 10_000), 'the last readable page');
  t.equal((await list.list({ q: '11.0.' }, 1, 50)).total, expected.length, 'q alone: exact');
  t.equal((await list.list({ since: '2000-01-01T00:00:00.000Z' }, 1, 50)).total, 12_000, 'since alone: exact');
  t.equal((await list.list({ type: 'ip', minReputation: 0 }, 1, 50)).total, 12_000, 'no since or q: exact from the counts');
});

/** Every counter of migration 10 against a recount from the rows it summarises. */
async function counterDrift(storage: Storage): Promise<Record<string, unknown[]>> {
  const diff = (kept: unknown[], recount: unknown[]) => (JSON.stringify(kept) === JSON.stringify(recount) ? [] : [{ kept, recount }]);
  const all = (sql: string) => selectRows<unknown>(storage, sql);
  const key = `type, category, status, reputation`;
  return {
    rank: diff(
      await all(`SELECT ${key}, n FROM ioc_rank_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4`),
      await all(`SELECT type, coalesce(category, '') AS category, status, reputation, count(*) AS n FROM iocs GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`),
    ),
    sourceRank: diff(
      await all(`SELECT * FROM ioc_source_rank ORDER BY source, change_seq`),
      await all(`SELECT s.source, i.reputation, i.last_seen, i.change_seq, i.type, i.category, i.status, i.updated_at, i.value
               FROM iocs i JOIN ioc_sources s ON s.ioc_id = i.id ORDER BY s.source, i.change_seq`),
    ),
    sourceCounts: diff(
      await all(`SELECT source, ${key}, n FROM ioc_source_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5`),
      await all(`SELECT s.source, i.type, coalesce(i.category, '') AS category, i.status, i.reputation, count(*) AS n
               FROM iocs i JOIN ioc_sources s ON s.ioc_id = i.id GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`),
    ),
    reportHours: diff(
      await all(`SELECT hour, category, n FROM tc_report_hours WHERE n <> 0 ORDER BY 1, 2`),
      await all(`SELECT substr(s.created_at, 1, 13) AS hour, coalesce(i.category, '') AS category, count(*) AS n
               FROM sightings s JOIN iocs i ON i.id = s.ioc_id GROUP BY 1, 2 ORDER BY 1, 2`),
    ),
    totals: diff(
      await all(`SELECT name, n FROM tc_list_totals ORDER BY name`),
      await all(`SELECT 'campaign_iocs' AS name, coalesce(sum(ioc_count), 0) AS n FROM campaigns WHERE formed_at IS NOT NULL
               UNION ALL SELECT 'reports', count(*) FROM sightings UNION ALL SELECT 'sources', count(*) FROM tc_sources ORDER BY name`),
    ),
    auditHours: diff(
      await all(`SELECT action, hour, n FROM tc_audit_hours WHERE n <> 0 ORDER BY 1, 2`),
      await all(`SELECT action, substr(created_at, 1, 13) AS hour, count(*) AS n FROM tc_audit_log GROUP BY 1, 2 ORDER BY 1, 2`),
    ),
    campaignReporters: diff(
      await all(`SELECT reporter_id, n FROM campaign_reporters WHERE n <> 0 ORDER BY 1`),
      await all(`SELECT r.reporter_id, count(*) AS n FROM campaigns c JOIN campaign_iocs m ON m.campaign_id = c.id
               JOIN ioc_reporters r ON r.ioc_id = m.ioc_id WHERE c.formed_at IS NOT NULL GROUP BY 1 ORDER BY 1`),
    ),
    campaignTechniques: diff(
      await all(`SELECT technique_id, n FROM campaign_technique_counts WHERE n <> 0 ORDER BY 1`),
      await all(`SELECT t.technique_id, count(*) AS n FROM campaign_techniques t JOIN campaigns c ON c.id = t.campaign_id
               WHERE c.formed_at IS NOT NULL GROUP BY 1 ORDER BY 1`),
    ),
  };
}
const NO_DRIFT = {
  rank: [], sourceRank: [], sourceCounts: [], reportHours: [], totals: [], auditHours: [], campaignReporters: [], campaignTechniques: [],
};

onBothEngines('the list and statistics counters stay equal to a recount through uploads, sightings, statuses, refreshes and campaigns', async (t, engine) => {
  const h = await buildIntelHarnessOn(t, engine);
  const ips = (block: number, from: number, n: number) => Array.from({ length: n }, (_, i) => `198.51.${block}.${from + i}`);
  await report(h, ips(100, 1, 3).map((value) => ({ type: 'ip', value, category: 'scanner', metadata: { mitreIds: ['T1046'] } })));
  await h.correlate();
  t.same(await counterDrift(h.storage), NO_DRIFT, 'a campaign forms');
  // A second reporter, sources and a category given later, a sighting, a status change.
  await report(h, [{ type: 'ip', value: '198.51.100.2', category: 'scanner' }, { type: 'domain', value: 'late.example' }], h.otherKey);
  await h.post('/api/threats', { threats: [{ type: 'domain', value: 'late.example', source: 'second-feed', category: 'phishing' }] });
  await h.post('/api/sightings', { value: '198.51.100.3', source: 'fw', context: { port: 22 } });
  await h.app.inject({ method: 'PUT', url: '/api/iocs/198.51.100.1/status', headers: authHeader(h.key), payload: { status: 'revoked', reason: 'test' } });
  await h.app.inject({ method: 'PUT', url: '/api/iocs/198.51.100.1/status', headers: authHeader(h.key), payload: { status: 'active', reason: 'test' } });
  await h.correlate();
  t.same(await counterDrift(h.storage), NO_DRIFT, 'after reports, sightings and status changes');
  // Two campaigns that a third group of IPs connects merge; trap intel relates hashes.
  await report(h, ips(100, 10, 3).map((value) => ({ type: 'ip', value, category: 'scanner', metadata: { mitreIds: ['T1110'] } })));
  await h.correlate();
  await report(h, ips(100, 4, 6).map((value) => ({ type: 'ip', value, category: 'scanner' })), h.otherKey);
  await h.post('/api/trap-intel', { trapId: 'trap-1', attackerIp: '198.51.100.5', honeypotType: 'ssh', payloads: ['a'.repeat(64)] });
  await h.correlate();
  t.same(await counterDrift(h.storage), NO_DRIFT, 'after campaigns merge and trap intel');
  // Decay: scores cross the threshold, then IoCs expire.
  h.clock.advance(40 * DAY_MS);
  await h.jobs.refresh.run();
  h.clock.advance(60 * DAY_MS);
  await h.jobs.refresh.run();
  t.ok((await selectRows(h.storage, `SELECT 1 FROM iocs WHERE status = 'expired'`)).length > 0, 'some expired');
  await h.correlate();
  t.same(await counterDrift(h.storage), NO_DRIFT, 'after refreshes');
  const stats = (await h.get('/api/campaigns/stats')).json().data;
  const [totals] = await selectRows<{ n: number; reporters: number; members: number }>(
    h.storage,
    `SELECT count(*) AS n, (SELECT count(DISTINCT r.reporter_id) FROM campaigns c JOIN campaign_iocs m ON m.campaign_id = c.id JOIN ioc_reporters r ON r.ioc_id = m.ioc_id WHERE c.formed_at IS NOT NULL) AS reporters,
       sum(ioc_count) AS members FROM campaigns WHERE formed_at IS NOT NULL`,
  );
  if (totals === undefined) throw new Error('no totals row');
  t.match(stats, { totalCampaigns: totals.n, totalAffectedOrgs: totals.reporters, avgIocsPerCampaign: Math.round((totals.members / totals.n) * 10) / 10 });
  t.ok(stats.topMitreTechniques.length > 0, 'techniques counted');
});

// SQLite-only: it migrates an old SQLite file; PostgreSQL starts from a baseline schema with the counters.
t.test('migration 10 fills its counters from the rows an older file already holds', async (t) => {
  // A file left at version 9 with data of every kind, then the real step on it.
  const old = openDatabase(testConfig(t).databasePath);
  t.teardown(() => closeDatabase(old));
  migrate(old, MIGRATIONS.filter((step) => step.version <= 9));
  old.exec(`
    INSERT INTO iocs (id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap, source, sources, metadata, first_seen, last_seen, updated_at, change_seq)
      VALUES ('ioc_a', 'ip', '198.51.100.1', 40, 'active', 'c2', 'high', 0.9, 2, 1, 0, 'feed', '["feed","fw"]', '{}', '2026-03-01T10:00:00.000Z', '2026-03-02T10:00:00.000Z', '2026-03-02T10:00:00.000Z', 1),
             ('ioc_b', 'domain', 'x.example', 70, 'revoked', NULL, 'low', 0.5, 1, 1, 0, 'feed', '["feed"]', '{}', '2026-03-01T11:30:00.000Z', '2026-03-01T11:30:00.000Z', '2026-03-03T00:00:00.000Z', 2);
    INSERT INTO ioc_sources (source, ioc_id) VALUES ('feed', 'ioc_a'), ('fw', 'ioc_a'), ('feed', 'ioc_b');
    INSERT INTO tc_sources (source, first_seen) VALUES ('feed', '2026-03-01T10:00:00.000Z'), ('fw', '2026-03-02T10:00:00.000Z');
    INSERT INTO ioc_reporters (ioc_id, reporter_id, first_seen) VALUES ('ioc_a', 'key:1', '2026-03-01T10:00:00.000Z'), ('ioc_b', 'key:2', '2026-03-01T11:30:00.000Z');
    INSERT INTO sightings (id, ioc_id, kind, source, reporter_id, context, created_at) VALUES
      ('sig_1', 'ioc_a', 'upload', 'feed', 'key:1', NULL, '2026-03-01T10:00:00.000Z'),
      ('sig_2', 'ioc_a', 'sighting', 'fw', 'key:1', NULL, '2026-03-02T10:00:00.000Z'),
      ('sig_3', 'ioc_b', 'upload', 'feed', 'key:2', NULL, '2026-03-01T11:30:00.000Z');
    INSERT INTO tc_audit_log (id, action, resource, details, api_key, ip, created_at) VALUES
      ('audit_1', 'create', 'threats', '{}', NULL, NULL, '2026-03-01T10:00:00.000Z'), ('audit_2', 'query', 'iocs', '{}', NULL, NULL, '2026-03-01T10:20:00.000Z');
    INSERT INTO campaigns (id, name, first_seen, last_activity, ioc_count, created_at, formed_at, updated_at)
      VALUES ('campaign_1', 'c', '2026-03-01T10:00:00.000Z', '2026-03-02T10:00:00.000Z', 2, '2026-03-02T10:00:00.000Z', '2026-03-02T10:00:00.000Z', '2026-03-02T10:00:00.000Z');
    INSERT INTO campaign_iocs (ioc_id, campaign_id, added_at) VALUES ('ioc_a', 'campaign_1', '2026-03-02T10:00:00.000Z'), ('ioc_b', 'campaign_1', '2026-03-02T10:00:00.000Z');
    INSERT INTO campaign_techniques (campaign_id, technique_id) VALUES ('campaign_1', 'T1046');
  `);
  migrate(old, MIGRATIONS);
  t.same(await counterDrift(sqliteStorageOf(old)), NO_DRIFT);
  t.equal((await selectRows(sqliteStorageOf(old), `SELECT 1 FROM ioc_source_rank`)).length, 3);
});

const INSERT_AUDIT_ENTRY = defineStatement<{ id: string; action: AuditAction; createdAt: string }>(
  `INSERT INTO tc_audit_log (id, action, resource, details, created_at) VALUES (@id, @action, 'iocs', '{}', @createdAt)`,
);

onBothEngines('audit-log totals: whole hours from the counts, the hour of `since` from the log', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const audit = createAuditStore(storage, new ManualClock());
  const base = Date.parse('2026-03-07T10:00:00.000Z');
  const actions: AuditAction[] = ['create', 'update', 'delete', 'query'];
  const entries = Array.from({ length: 400 }, (_, i) => ({ id: `audit_${i}`, action: actions[i % 4]!, createdAt: toIso(base + i * 37_000) }));
  await storage.transaction({ durable: false }, (tx) => tx.runBatch(INSERT_AUDIT_ENTRY, entries));
  for (const since of [undefined, '2026-03-07T09:00:00.000Z', '2026-03-07T10:00:00.000Z', '2026-03-07T11:17:23.456Z', '2026-03-07T13:59:59.999Z', '2026-03-08T00:00:00.000Z']) {
    for (const action of [undefined, ...actions]) {
      const { total, items } = await audit.list({ ...(action ? { action } : {}), ...(since ? { since } : {}), page: 2, limit: 10 });
      // The casts: PostgreSQL cannot type a parameter that only `IS NULL` reads.
      const rows = await selectRows<{ id: string }>(
        storage,
        `SELECT id FROM tc_audit_log WHERE (CAST(@action AS TEXT) IS NULL OR action = @action) AND (CAST(@since AS TEXT) IS NULL OR created_at > @since) ORDER BY created_at DESC, rowid DESC`,
        { action: action ?? null, since: since ?? null },
      );
      t.equal(total, rows.length, `total ${action ?? 'all'} since ${since ?? '-'}`);
      t.same(items.map((item) => item.id), rows.slice(10, 20).map((row) => row.id), `page ${action ?? 'all'} since ${since ?? '-'}`);
    }
  }
});

onBothEngines('sightings: newest first, ties in the order stored, the IoC\'s report count as total', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.7')] } });
  for (let i = 0; i < 3; i += 1) await tc.inject({ method: 'POST', url: '/api/sightings', payload: { value: '198.51.100.7', source: `fw-${i}` } });
  tc.clock.advance(1000);
  await tc.inject({ method: 'POST', url: '/api/sightings', payload: { value: '198.51.100.7', source: 'later' } });
  const res = (await tc.inject({ url: '/api/sightings?value=198.51.100.7&limit=3' })).json();
  t.equal(res.pagination.total, 5);
  t.same(res.data.map((item: { source: string }) => item.source), ['later', 'test-sensor', 'fw-0']);
  const next = (await tc.inject({ url: '/api/sightings?value=198.51.100.7&limit=3&page=2' })).json();
  t.same(next.data.map((item: { source: string }) => item.source), ['fw-1', 'fw-2']);
});

onBothEngines('IoC searches (since, q) have their own per-key limit, a sixth of the tier\'s', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine, { env: { RATE_LIMIT_SCALE: '1' } });
  const { key } = await userKeyOn(tc.storage, tc.clock, 'community');
  for (let i = 0; i < 10; i += 1) t.equal((await tc.inject({ url: `/api/iocs?q=198.${i}`, key })).statusCode, 200, `search ${i + 1}`);
  const refused = await tc.inject({ url: '/api/iocs?since=2026-01-01T00:00:00.000Z', key });
  t.equal(refused.statusCode, 429);
  t.equal(refused.json().error, 'Too many requests. Please try again later.');
  t.equal(refused.headers['x-ratelimit-limit'], '10');
  t.equal((await tc.inject({ url: '/api/iocs?type=ip', key })).statusCode, 200, 'a list without since or q is not a search');
  tc.clock.advance(61_000);
});

onBothEngines('the decay refresh in short steps gives every IoC the score and status a one-shot recount gives', async (t, engine) => {
  const seededAt = Date.parse('2026-03-07T12:00:00.000Z');
  const storage = await seededStorageOn(t, engine, (db) => seedIocs(db, { count: 4_000, now: seededAt }));
  const clock = new ManualClock(seededAt + 70 * DAY_MS);
  const [seq] = await selectRows<{ value: number }>(storage, `SELECT value FROM tc_state WHERE name = 'seq'`);
  const seqBefore = seq!.value;
  const now = clock.now() / DAY_MS + 2440587.5;
  // The one-shot recount in each engine's own dialect of the formula (PostgreSQL has no julianday).
  const score = storage.engine === 'postgres' ? REPUTATION_SQL_POSTGRES : REPUTATION_SQL;
  const expected = await selectRows<{ id: string; reputation: number; status: string; crossing: number }>(
    storage,
    `SELECT id, ${score} AS reputation,
       CASE WHEN last_seen < @cutoff THEN 'expired' ELSE status END AS status,
       CASE WHEN last_seen >= @cutoff AND ((reputation <= ${DEFAULT_THRESHOLD}) <> (${score} <= ${DEFAULT_THRESHOLD})) THEN 1 ELSE 0 END AS crossing
     FROM iocs ORDER BY id`,
    { now, cutoff: toIso(clock.now() - 90 * DAY_MS) },
  );
  const result = await createReputationRefresh({ storage, iocs: createReputationRefreshStore(storage), clock }).run();
  const after = await selectRows<{ id: string; reputation: number; status: string; change_seq: number }>(storage, `SELECT id, reputation, status, change_seq FROM iocs ORDER BY id`);
  t.same(after.map(({ id, reputation, status }) => ({ id, reputation, status })), expected.map(({ id, reputation, status }) => ({ id, reputation, status })));
  const moved = after.filter((row) => row.change_seq > seqBefore).length;
  t.ok(result.expired > 0 && result.rescored > 0, JSON.stringify(result));
  t.equal(moved, result.expired + result.crossed, 'expired and crossing IoCs, and only they, take new change positions');
  t.equal(result.crossed, expected.filter((row) => row.crossing === 1).length);
  t.same(await counterDrift(storage), NO_DRIFT, 'the counters follow');
});
