import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../../src/shared/clock.js';
import { seedIocs } from '../../src/threat-cloud/seed.js';
import { storageOn, type Engine } from '../engines.js';
import { testConfig, testDb, type Teardown } from '../helper.js';
import { BOOTSTRAP_KEY, buildThreatCloud, copyIntoPostgres, countIn, onBothEngines } from './fixtures.js';

const COUNT = 100_000;

/**
 * A Threat Cloud with COUNT IoCs. The seeder writes SQLite; on PostgreSQL its rows are
 * copied (as `migrate-data` does) into the fresh database before the app starts on it.
 */
async function seededThreatCloud(t: Teardown, engine: Engine) {
  const postgres = await storageOn(engine);
  if (postgres === undefined) {
    const tc = await buildThreatCloud(t);
    return { tc, seeded: seedIocs(tc.db, { count: COUNT, now: tc.clock.now(), ipOnly: true, childRows: false }) };
  }
  const source = testDb(t, testConfig(t));
  const seeded = seedIocs(source, { count: COUNT, now: new ManualClock().now(), ipOnly: true, childRows: false });
  await copyIntoPostgres(t, postgres, source);
  return { tc: await buildThreatCloud(t, { storage: postgres }), seeded };
}

onBothEngines('a 100,000-IoC blocklist streams with bounded memory and does not hold the database', async (t, engine) => {
  const { tc, seeded } = await seededThreatCloud(t, engine);
  t.equal(seeded, COUNT);
  t.equal(await countIn(tc.storage, 'iocs'), COUNT);
  await tc.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = tc.app.server.address() as AddressInfo;

  global.gc?.();
  const baseline = process.memoryUsage();
  let peakHeap = baseline.heapUsed;
  let peakRss = baseline.rss;
  const sample = () => {
    const now = process.memoryUsage();
    peakHeap = Math.max(peakHeap, now.heapUsed);
    peakRss = Math.max(peakRss, now.rss);
  };

  const result = await new Promise<{ lines: number; chunks: number; headers: http.IncomingHttpHeaders; first: string[]; lookupDuringStream: number }>((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: '/api/feeds/ip-blocklist?maxReputation=100', headers: { authorization: `Bearer ${BOOTSTRAP_KEY}` } }, (res) => {
      let lines = 0;
      let chunks = 0;
      let rest = '';
      const first: string[] = [];
      let lookupDuringStream = 0;
      let paused = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        chunks += 1;
        const parts = (rest + chunk).split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          if (first.length < 4) first.push(line);
          if (!line.startsWith('#')) lines += 1;
        }
        sample();
        if (!paused && lines > 1000) {
          // Mid-stream, the client stops reading: other requests must still be served.
          paused = true;
          res.pause();
          tc.inject({ url: '/api/iocs/11.0.0.5' }).then((lookup) => {
            lookupDuringStream = lookup.statusCode;
            res.resume();
          }, reject);
        }
      });
      res.on('end', () => resolve({ lines, chunks, headers: res.headers, first, lookupDuringStream }));
      res.on('error', reject);
    }).on('error', reject);
  });

  t.equal(result.headers['transfer-encoding'], 'chunked', 'streamed, not sent with a precomputed length');
  t.equal(result.first[0], '# Panguard AI IP Blocklist');
  t.equal(result.first[2], `# Total: ${COUNT} IPs`);
  t.equal(result.lines, COUNT, 'every IoC listed exactly once');
  t.ok(result.chunks > 10, `arrived in ${result.chunks} chunks`);
  t.equal(result.lookupDuringStream, 200, 'a lookup is answered while the feed is half read');
  const heapGrowthMiB = (peakHeap - baseline.heapUsed) / 2 ** 20;
  const rssGrowthMiB = (peakRss - baseline.rss) / 2 ** 20;
  t.ok(heapGrowthMiB < 48, `heap growth ${heapGrowthMiB.toFixed(1)} MiB`);
  t.ok(rssGrowthMiB < 64, `RSS growth ${rssGrowthMiB.toFixed(1)} MiB`);
});
