import t, { type Test } from 'tap';
import { ManualClock } from '../../../src/shared/clock.js';
import { openPostgresStorage } from '../../../src/shared/db/postgres-storage.js';
import { createSqliteStorage, sqliteStorageOf } from '../../../src/shared/db/sqlite-storage.js';
import { defineStatement, type Storage } from '../../../src/shared/db/storage.js';
import { createCorrelator } from '../../../src/threat-cloud/intel/services/correlation.js';
import { TARGET_COUNTRIES } from '../../../src/threat-cloud/intel/stores/campaign-queries.js';
import { mirrorToPostgres, startPostgres } from '../../postgres.js';
import { buildIntelHarness, HOUR, report, type IntelHarness } from './helper.js';

/**
 * A campaign's target countries, read by each engine's own SQL from the same members: the
 * same countries in the same order. Members name them in every shape metadata allows.
 */
const cluster = await startPostgres(t);

/**
 * The harness's file copied into a fresh PostgreSQL database once its app is closed. While the
 * app runs, its timers write into the file (the read audit is flushed every second, and the
 * jobs run on their schedules): one flush between copying the audit tables and counting them
 * failed a full run ("tc_audit_log: 2 rows in SQLite, 1 in PostgreSQL").
 */
async function postgresCopyOf(t: Test, h: IntelHarness): Promise<Storage> {
  await h.app.close();
  const postgres = await openPostgresStorage({ connectionString: await mirrorToPostgres(t, cluster, h.db), poolSize: 1, statementTimeoutMs: 10_000, ssl: false });
  t.teardown(() => postgres.close());
  return postgres;
}

t.test('target countries: the same list from both engines, whatever shape the metadata gives them in', async (t) => {
  const h = await buildIntelHarness(t);
  await report(h, [
    { type: 'ip', value: '198.51.100.1', category: 'c2', metadata: { targetCountry: 'FR' } },
    { type: 'ip', value: '198.51.100.2', category: 'c2', metadata: { targetCountry: 'be' } },
    { type: 'ip', value: '198.51.100.3', category: 'c2', metadata: { targetCountry: ['de', 'Es', 7, null] } },
    { type: 'ip', value: '198.51.100.4', category: 'c2', metadata: { targetCountry: { primary: 'it', secondary: { nested: 'XX' } } } },
    // SQLite's upper() leaves letters beyond ASCII alone; PostgreSQL must not fold them either.
    { type: 'ip', value: '198.51.100.5', category: 'c2', metadata: { targetCountry: 'éz' } },
    { type: 'ip', value: '198.51.100.6', category: 'c2', metadata: { targetCountry: 42 } },
    { type: 'ip', value: '198.51.100.7', category: 'c2', metadata: { country: 'NL' } },
    { type: 'ip', value: '198.51.100.8', category: 'c2', metadata: { targetCountry: 'fr' } },
  ]);
  await h.correlate();
  const campaigns = (await h.get('/api/campaigns')).json().data as Array<{ id: string }>;
  t.equal(campaigns.length, 1, 'the eight related IoCs form one campaign');
  const campaignId = campaigns[0]!.id;

  const expected = ['BE', 'DE', 'ES', 'FR', 'IT', 'éZ'];
  const detail = (await h.get(`/api/campaigns/${campaignId}`)).json().data;
  t.same(detail.geography.targetCountries, expected, 'what the API answers on SQLite');

  const onSqlite = await createSqliteStorage(h.db).all(TARGET_COUNTRIES, [campaignId]);
  const postgres = await postgresCopyOf(t, h);
  const onPostgres = await postgres.all(TARGET_COUNTRIES, [campaignId]);
  t.same(onSqlite.map((row) => row.country), expected);
  t.same(onPostgres.map((row) => row.country), expected, 'PostgreSQL answers the same countries in the same order');
});

/** What the correlation stored, ids masked (they are random per run): the same on both engines. */
const CAMPAIGN_ROWS = defineStatement<void, Record<string, unknown>>(
  `SELECT name, severity, first_seen, last_activity, ioc_count, affected_orgs, mitre_ids, tags, description, formed_at IS NOT NULL AS formed
   FROM campaigns ORDER BY first_seen, name`,
);
const MEMBER_ROWS = defineStatement<void, Record<string, unknown>>(
  `SELECT i.value, c.name FROM campaign_iocs m JOIN campaigns c ON c.id = m.campaign_id JOIN iocs i ON i.id = m.ioc_id ORDER BY i.value`,
);
const EVENT_ROWS = defineStatement<void, Record<string, unknown>>(
  `SELECT c.name, e.at, e.event, e.details FROM campaign_events e JOIN campaigns c ON c.id = e.campaign_id ORDER BY c.name, e.at, e.event, e.details`,
);
const TECHNIQUE_ROWS = defineStatement<void, Record<string, unknown>>(
  `SELECT c.name, t.technique_id FROM campaign_techniques t JOIN campaigns c ON c.id = t.campaign_id ORDER BY c.name, t.technique_id`,
);
const NETBLOCK_ROWS = defineStatement<void, Record<string, unknown>>(`SELECT i.value, b.block FROM ioc_netblocks b JOIN iocs i ON i.id = b.ioc_id ORDER BY i.value`);
const WATERMARK_ROW = defineStatement<void, Record<string, unknown>>(`SELECT value FROM intel_state WHERE name = 'correlated_sighting'`);

async function storedCampaigns(storage: Storage) {
  const masked = (rows: Array<Record<string, unknown>>) => JSON.parse(JSON.stringify(rows).replace(/campaign_[A-Za-z0-9_-]+/g, 'campaign_*')) as unknown[];
  const campaigns = (await storage.all(CAMPAIGN_ROWS)).map((row) => ({ ...row, formed: Number(row.formed) }));
  return {
    campaigns: masked(campaigns),
    members: masked(await storage.all(MEMBER_ROWS)),
    events: masked(await storage.all(EVENT_ROWS)),
    techniques: await storage.all(TECHNIQUE_ROWS),
    netblocks: await storage.all(NETBLOCK_ROWS),
    watermark: Number((await storage.get(WATERMARK_ROW))!.value),
  };
}

t.test('the correlation forms, extends and merges the same campaigns on both engines', async (t) => {
  const h = await buildIntelHarness(t);
  const start = h.clock.now();
  // Two groups of one /24 and category, 30 h apart (beyond the 24 h window of each other)…
  await report(h, [1, 2, 3].map((n) => ({ type: 'ip', value: `198.51.100.${n}`, category: 'scanner', metadata: { mitreIds: ['T1046'] } })));
  h.clock.set(start + 30 * HOUR);
  await report(h, [10, 11, 12].map((n) => ({ type: 'ip', value: `198.51.100.${n}`, category: 'scanner', metadata: { mitreIds: ['T1110'] } })));
  // …and a report between them, within 24 h of both: it joins the two.
  h.clock.set(start + 15 * HOUR);
  await report(h, [{ type: 'ip', value: '198.51.100.20', category: 'scanner' }, { type: 'ip', value: '203.0.113.9', category: 'c2' }]);
  const postgres = await postgresCopyOf(t, h);

  /** The same batches at the same instants: one group, then the other, then the rest. */
  async function correlateOn(storage: Storage) {
    const clock = new ManualClock(start + 31 * HOUR);
    const correlator = createCorrelator(storage, clock);
    t.ok(await correlator.hasPending());
    const processed = [await correlator.runBatch(3)];
    clock.advance(60_000);
    processed.push(await correlator.runBatch(3));
    clock.advance(60_000);
    for (let n = await correlator.runBatch(); n > 0; n = await correlator.runBatch()) processed.push(n);
    t.notOk(await correlator.hasPending());
    return { processed, stored: await storedCampaigns(storage) };
  }
  const onSqlite = await correlateOn(sqliteStorageOf(h.db));
  const onPostgres = await correlateOn(postgres);

  t.same(onSqlite.processed, [3, 3, 2]);
  const events = onSqlite.stored.events as Array<{ event: string }>;
  t.same(events.map((row) => row.event).sort(), ['Campaign detected', 'Campaign detected', 'Campaign extended', 'Campaigns merged'], 'one detection per campaign, then the merge');
  t.same((onSqlite.stored.campaigns as Array<{ ioc_count: number }>).map((row) => row.ioc_count), [7], 'one campaign of seven IPs survives');
  t.same(onSqlite.stored.techniques.map((row) => row.technique_id), ['T1046', 'T1110']);
  t.same(onPostgres, onSqlite, 'PostgreSQL stores the same campaigns, members, timeline, techniques and blocks');
});
