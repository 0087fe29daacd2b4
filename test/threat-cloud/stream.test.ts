import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { seedIocs } from '../../src/threat-cloud/seed.js';
import { BOOTSTRAP_KEY, buildThreatCloud } from './fixtures.js';

const COUNT = 100_000;

t.test('a 100,000-IoC blocklist streams with bounded memory and does not hold the database', async (t) => {
  const tc = await buildThreatCloud(t);
  const seeded = seedIocs(tc.db, { count: COUNT, now: tc.clock.now(), ipOnly: true, childRows: false });
  t.equal(seeded, COUNT);
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
