import { axeViolations, fitsWidth, launchChromium, screenshotOn, signInToConsole, startManager, watchedPage } from '../browser.js';
import { ManualClock } from '../../src/shared/clock.js';
import { storageOn } from '../engines.js';
import { event, onBothEngines, OPERATOR, register } from './fixtures.js';

const pad = (n: number) => String(n).padStart(3, '0');

onBothEngines('the fleet pages through 250 agents, filters on the Manager and opens an agent by keyboard', async (t, engine) => {
  // Registered at three moments, so the fleet has offline, stale and online agents.
  const clock = new ManualClock(Date.now() - 10 * 60_000);
  const { app, origin } = await startManager(t, { clock, storage: await storageOn(engine) });
  const api = async (url: string) => (await app.inject({ url, headers: OPERATOR })).json();
  for (let i = 1; i <= 250; i += 1) {
    if (i === 41) clock.advance(200_000);
    if (i === 101) clock.advance(150_000);
    const [orgId, tags] = i <= 40 ? ['acme', ['web', 'prod']] : i <= 100 ? ['beta', ['db']] : ['default', i % 2 ? ['web'] : []];
    clock.advance(10); // registration order is the list order
    await register(app, { hostname: `host-${pad(i)}`, org_id: orgId, tags, version: i % 3 ? '1.4.0' : '1.3.9' });
  }
  const target = await register(app, { hostname: 'host-250', org_id: 'default', tags: [] });
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'Base', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  await app.inject({ method: 'POST', url: `/api/agents/${target.id}/heartbeat`, headers: target.headers, payload: { cpu: 37.5, memory: 61.2, uptime: 90061, policyVersion: 'v1' } });
  await app.inject({
    method: 'POST',
    url: `/api/agents/${target.id}/events`,
    headers: target.headers,
    payload: { events: [event({ severity: 'critical' }), event({ type: 'port_scan', severity: 'low', details: { ports: 1000 } })] },
  });
  const overview = (await api('/api/overview')).data;
  t.equal(overview.totalAgents, 250);
  t.ok(overview.onlineAgents > 0 && overview.staleAgents > 0 && overview.offlineAgents > 0, 'all three statuses seeded');

  const browser = await launchChromium(t, ['--ignore-certificate-errors']);
  const { page, problems, requests } = await watchedPage(browser);
  await signInToConsole(page, origin);

  await page.waitForSelector('#fleet-range:text-is("1–50 of 250")');
  t.equal(await page.textContent('#count-total'), String(overview.totalAgents), 'counts are the API overview');
  t.equal(await page.textContent('#count-online'), String(overview.onlineAgents));
  t.equal(await page.textContent('#count-stale'), String(overview.staleAgents));
  t.equal(await page.textContent('#count-offline'), String(overview.offlineAgents));
  t.equal(await page.textContent('#active-policy'), 'v1');
  t.equal(await page.locator('#agents tbody tr').count(), 50);
  t.ok(await page.isDisabled('#fleet-prev'), 'no previous page on page 1');

  const page2 = await api('/api/agents?page=2&limit=50');
  await page.click('#fleet-next');
  await page.waitForSelector('#fleet-range:text-is("51–100 of 250")');
  t.equal(await page.textContent('#agents tbody tr:first-child td:first-child'), page2.data[0].hostname, 'page 2 is the API page 2');
  for (let n = 3; n <= 5; n += 1) await page.click('#fleet-next');
  await page.waitForSelector('#fleet-range:text-is("201–250 of 250")');
  t.ok(await page.isDisabled('#fleet-next'), 'no next page after the last');
  await page.click('#fleet-prev');
  await page.waitForSelector('#fleet-range:text-is("151–200 of 250")');

  // Filters run on the Manager: the totals are the API's.
  await page.selectOption('#fleet-status', 'stale');
  const stale = await api('/api/agents?status=stale');
  await page.waitForSelector(`#fleet-range:text-is("1–50 of ${stale.pagination.total}")`);
  t.equal(stale.pagination.total, overview.staleAgents);
  t.equal(await page.locator('#agents tbody .status-stale').count(), 50);
  await page.selectOption('#fleet-status', '');
  await page.fill('#fleet-org', 'acme');
  await page.fill('#fleet-tag', 'web, prod');
  await page.click('#fleet-apply');
  const acme = await api('/api/agents?org_id=acme&tag=web&tag=prod');
  await page.waitForSelector(`#fleet-range:text-is("1–${acme.pagination.total} of ${acme.pagination.total}")`);
  t.equal(acme.pagination.total, 40);
  await page.fill('#fleet-org', '');
  await page.fill('#fleet-tag', '');
  await page.click('#fleet-apply');
  await page.waitForSelector('#fleet-range:text-is("1–50 of 250")');

  const firstRowIs = (hostname: string) =>
    // A selector, not a predicate string: the console's CSP forbids the eval Playwright would need.
    page.waitForSelector(`#agents tbody tr >> nth=0 >> td >> nth=0 >> text="${hostname}"`, { timeout: 10_000 }).catch(async (error) => {
      throw new Error(`first row ${await page.textContent('#agents tbody tr td')}, not ${hostname}: ${error}`);
    });
  // Search and sort run on the Manager: the total narrows to the API's, the order is the API's.
  await page.fill('#fleet-search', 'HOST-24');
  const search = await api('/api/agents?q=HOST-24&limit=50');
  t.equal(search.pagination.total, 10, 'host-240 … host-249, ignoring case');
  await page.waitForSelector('#fleet-range:text-is("1–10 of 10")');
  t.same(await page.locator('#agents tbody tr td:first-child').allTextContents(), search.data.map((a: { hostname: string }) => a.hostname), 'the rows are the API search');
  await page.fill('#fleet-search', 'host-2');
  const narrowed = await api('/api/agents?q=host-2&limit=50');
  await page.waitForSelector(`#fleet-range:text-is("1–50 of ${narrowed.pagination.total}")`);
  t.equal(narrowed.pagination.total, 51, 'host-200 … host-250');
  await page.fill('#fleet-search', '');
  await page.waitForSelector('#fleet-range:text-is("1–50 of 250")');
  await page.selectOption('#fleet-sort', 'hostname');
  const byHostname = await api('/api/agents?sort=hostname&limit=50');
  await firstRowIs(byHostname.data[0].hostname);
  t.equal(byHostname.data[0].hostname, 'host-001', 'A–Z over the whole fleet, not the page');
  t.same(await page.locator('#agents tbody tr td:first-child').allTextContents(), byHostname.data.map((a: { hostname: string }) => a.hostname), 'hostname order is the API order');
  await page.selectOption('#fleet-order', 'desc');
  const byHostnameDesc = await api('/api/agents?sort=hostname&order=desc&limit=50');
  await firstRowIs(byHostnameDesc.data[0].hostname);
  t.same(await page.locator('#agents tbody tr td:first-child').allTextContents(), byHostnameDesc.data.map((a: { hostname: string }) => a.hostname), 'Z–A is the API order');
  await page.selectOption('#fleet-sort', 'lastHeartbeat');
  await page.selectOption('#fleet-order', '');
  const byBeat = await api('/api/agents?sort=lastHeartbeat&limit=50');
  await firstRowIs(byBeat.data[0].hostname);
  t.same(await page.locator('#agents tbody tr td:first-child').allTextContents(), byBeat.data.map((a: { hostname: string }) => a.hostname), 'newest heartbeat first, as the API');
  await page.selectOption('#fleet-sort', '');
  await firstRowIs('host-250');
  await page.evaluate('document.activeElement.blur(); window.scrollTo(0, 0)');
  t.ok(await page.isHidden('#banner'), 'no error banner');
  await screenshotOn(engine, page, 'manager-fleet');
  t.same(await axeViolations(page), [], 'no serious or critical accessibility violation on the fleet');

  // Keyboard alone: tab from the filters to the first agent, Enter opens it.
  await page.focus('#fleet-limit');
  let focused = '';
  for (let presses = 0; presses < 8 && focused !== 'host-250'; presses += 1) {
    await page.keyboard.press('Tab');
    focused = (await page.evaluate('document.activeElement.closest("#agents") ? document.activeElement.textContent : ""')) as string;
  }
  t.equal(focused, 'host-250', 'Tab reaches the first agent');
  // Every poll and live event re-renders the rows; the keyboard user keeps their place (a poll
  // between the Tab and the Enter once left focus on the page, and the Enter opened nothing).
  await page.evaluate('document.activeElement.dataset.beforeRefresh = "yes"');
  await page.evaluate('window.dispatchEvent(new HashChangeEvent("hashchange"))');
  await page.waitForSelector('#agents [data-before-refresh]', { state: 'detached' });
  const afterRefresh = await page.evaluate('document.activeElement.closest("#agents") ? document.activeElement.textContent : document.activeElement.tagName');
  t.equal(afterRefresh, 'host-250', 'a refresh keeps focus on the same agent');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-agent:not([hidden]) #agent-title:text-is("Agent host-250")');

  const detail = (await api(`/api/agents/${target.id}`)).data;
  const fact = (name: string) => page.textContent(`#view-agent dd[data-fact="${name}"]`);
  t.equal(await fact('CPU'), '37.5 %');
  t.equal(await fact('Memory'), '61.2 %');
  t.equal(await fact('Uptime'), '1 d 1 h 1 min');
  t.equal(await fact('Version'), detail.version);
  t.equal(await fact('Applies'), detail.activePolicyVersion);
  t.equal(await page.textContent('#agent-recent-count'), String(detail.recentThreats));
  t.equal(await page.locator('#agent-threats tbody tr').count(), 2, 'its recent threats are listed');
  await screenshotOn(engine, page, 'manager-agent');
  t.same(await axeViolations(page), [], 'no serious or critical accessibility violation on the agent view');

  // 800 px wide: nothing needs horizontal scrolling of the page.
  await page.setViewportSize({ width: 800, height: 900 });
  t.ok(await fitsWidth(page), 'agent view fits 800 px');
  await page.goBack();
  await page.waitForSelector('#view-fleet:not([hidden]) #agents tbody tr');
  t.ok(await fitsWidth(page), 'fleet fits 800 px');

  t.notOk(requests.some((url) => !url.startsWith(origin)), 'no third-party request (no CDN)');
  t.same(problems, [], 'no console errors or CSP violations');
});
