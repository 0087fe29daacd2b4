import t from 'tap';
import { openPostgresStorage } from '../../../src/shared/db/postgres-storage.js';
import { createSqliteStorage } from '../../../src/shared/db/sqlite-storage.js';
import { TARGET_COUNTRIES } from '../../../src/threat-cloud/intel/stores/campaign-queries.js';
import { mirrorToPostgres, startPostgres } from '../../postgres.js';
import { buildIntelHarness, report } from './helper.js';

/**
 * A campaign's target countries, read by each engine's own SQL from the same members: the
 * same countries in the same order. Members name them in every shape metadata allows.
 */
const cluster = await startPostgres(t);

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
  h.correlate();
  const campaigns = (await h.get('/api/campaigns')).json().data as Array<{ id: string }>;
  t.equal(campaigns.length, 1, 'the eight related IoCs form one campaign');
  const campaignId = campaigns[0]!.id;

  const expected = ['BE', 'DE', 'ES', 'FR', 'IT', 'éZ'];
  const detail = (await h.get(`/api/campaigns/${campaignId}`)).json().data;
  t.same(detail.geography.targetCountries, expected, 'what the API answers on SQLite');

  const onSqlite = await createSqliteStorage(h.db).all(TARGET_COUNTRIES, [campaignId]);
  const postgres = await openPostgresStorage({ connectionString: await mirrorToPostgres(t, cluster, h.db), poolSize: 1, statementTimeoutMs: 10_000, ssl: false });
  t.teardown(() => postgres.close());
  const onPostgres = await postgres.all(TARGET_COUNTRIES, [campaignId]);
  t.same(onSqlite.map((row) => row.country), expected);
  t.same(onPostgres.map((row) => row.country), expected, 'PostgreSQL answers the same countries in the same order');
});
