import { axeViolations, fitsWidth, launchChromium, screenshotOn, signInToConsole, startManager, watchedPage } from '../browser.js';
import { storageOn } from '../engines.js';
import { event, onBothEngines, OPERATOR, register } from './fixtures.js';

const HOUR = 3600e3;

onBothEngines('the threats view shows the API summary, a chart by hour and severity, and a filterable list', async (t, engine) => {
  const { app, origin } = await startManager(t, { storage: await storageOn(engine) });
  const api = async (url: string) => (await app.inject({ url, headers: OPERATOR })).json();
  const web = await register(app, { hostname: 'web-01' });
  const db = await register(app, { hostname: 'db-01' });
  const severities = ['critical', 'high', 'medium', 'low'];
  const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * HOUR).toISOString();
  // 60 events spread over the last 20 hours, plus 5 older than a day.
  const recent = Array.from({ length: 60 }, (_, i) =>
    event({ severity: severities[i % 4], type: i % 3 ? 'brute_force' : 'port_scan', timestamp: at((i % 20) + 0.5), confidence: 0.9, ruleId: `R-${i}`, details: { sourceIp: '203.0.113.7', n: i } }),
  );
  for (const [agent, events] of [[web, recent.slice(0, 40)], [db, recent.slice(40)]] as const) {
    const res = await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: agent.headers, payload: { events } });
    t.equal(res.statusCode, 201);
  }
  await app.inject({ method: 'POST', url: `/api/agents/${db.id}/events`, headers: db.headers, payload: { events: [1, 2, 3, 4, 5].map(() => event({ severity: 'low', timestamp: at(30) })) } });
  const summary = (await api('/api/threats/summary?period=24h')).data;
  t.equal(summary.total, 60);

  const browser = await launchChromium(t, ['--ignore-certificate-errors']);
  const { page, problems, requests } = await watchedPage(browser);
  await signInToConsole(page, origin, 'threats');

  await page.waitForSelector('#threat-total:text-is("60")');
  for (const severity of severities) {
    t.equal(await page.textContent(`#threat-severity li[data-severity="${severity}"] span:last-child`), String(summary.bySeverity[severity]), severity);
  }
  t.match(await page.textContent('#threat-types'), `brute_force${summary.byType.brute_force}`);
  t.match(await page.textContent('#threat-ips'), '203.0.113.7');

  // The chart: a canvas, and a text alternative with the same numbers as the API.
  await page.waitForSelector('#threat-chart canvas');
  t.match(await page.getAttribute('#threat-chart', 'aria-label'), /60 events/);
  const table = (await page.evaluate(
    `Array.from(document.querySelectorAll('#threat-chart-table tbody tr'), (row) => Array.from(row.querySelectorAll('td')).slice(1).map((td) => Number(td.textContent)))`,
  )) as number[][];
  severities.forEach((severity, column) => {
    t.equal(table.reduce((sum, row) => sum + row[column]!, 0), summary.bySeverity[severity], `chart table sums to the API's ${severity} count`);
  });
  // Every hour of the chart is the Manager's time series (no sampling of the newest events).
  const series = (await api('/api/threats/timeseries?period=24h')).data;
  t.equal(series.bucket, '1h');
  t.same(table, series.series.map((point: Record<string, number>) => severities.map((severity) => point[severity])), 'chart table rows are the API time series');
  t.match(await page.textContent('#threat-chart-note'), /^60 events;/);
  t.ok(requests.some((url) => url.includes('/api/threats/timeseries?period=24h')), 'the chart asks for the time series');
  t.notOk(requests.some((url) => /\/api\/threats\?.*limit=200/.test(url)), 'and reads no pages of events for it');
  // Hovering a point shows its numbers in the legend.
  const box = (await page.locator('#threat-chart .u-over').boundingBox())!;
  await page.mouse.move(box.x + box.width - 30, box.y + box.height / 2);
  const legend = await page.textContent('#threat-chart .u-legend');
  t.match(legend, /critical\s*\d+/, 'hover shows the number of each severity');

  // The list: 7 days by default, newest first, 25 a page.
  const all = await api(`/api/threats?since=${encodeURIComponent(at(24 * 7))}&limit=25`);
  await page.waitForSelector(`#threats-range:text-is("1–25 of ${all.pagination.total}")`);
  t.equal(all.pagination.total, 65);
  await page.click('#threats-next');
  await page.waitForSelector('#threats-range:text-is("26–50 of 65")');
  await page.selectOption('#threat-severity-filter', 'critical');
  const critical = await api(`/api/threats?severity=critical&since=${encodeURIComponent(at(24 * 7))}`);
  await page.waitForSelector(`#threats-range:text-is("1–${critical.pagination.total} of ${critical.pagination.total}")`);
  t.equal(await page.locator('#threats tbody .sev-critical').count(), critical.pagination.total);
  await page.fill('#threat-type', 'port_scan');
  await page.fill('#threat-agent', db.id);
  await page.selectOption('#threat-range', '24h');
  const narrowed = await api(`/api/threats?severity=critical&type=port_scan&agent_id=${db.id}&since=${encodeURIComponent(at(24))}`);
  await page.click('#threat-apply');
  await page.waitForSelector(`#threats-range:text-is("${narrowed.pagination.total ? `1–${narrowed.pagination.total}` : '0'} of ${narrowed.pagination.total}")`);

  // An event's details.
  await page.selectOption('#threat-severity-filter', '');
  await page.fill('#threat-type', '');
  await page.fill('#threat-agent', '');
  await page.click('#threat-apply');
  await page.waitForSelector('#threats-range:text-is("1–25 of 60")');
  await page.focus('#threats tbody tr:first-child button');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#threat-detail:not([hidden])');
  const newest = (await api('/api/threats?limit=1')).data[0];
  t.match(await page.textContent('#threat-detail-title'), newest.id);
  t.same(JSON.parse((await page.textContent('#threat-detail-json'))!), newest.details, 'the details are the API event');

  await page.evaluate('window.scrollTo(0, 0)');
  await screenshotOn(engine, page, 'manager-threats');
  t.same(await axeViolations(page), [], 'no serious or critical accessibility violation');
  await page.setViewportSize({ width: 800, height: 900 });
  t.ok(await fitsWidth(page), 'fits 800 px');

  // Dark scheme: the chart is drawn again with the dark palette.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForSelector('#threat-chart canvas');
  t.same(await axeViolations(page), [], 'no serious or critical accessibility violation in the dark scheme');
  t.same(problems, [], 'no console errors or CSP violations');
});
