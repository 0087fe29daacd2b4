import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import t from 'tap';
import { ManualClock } from '../../src/shared/clock.js';
import { buildThreatCloudApp } from '../../src/threat-cloud/app.js';
import { launchChromium, screenshotOn, watchedPage } from '../browser.js';
import { storageOn, type Engine } from '../engines.js';
import { authHeader, buildTestApp, type Teardown } from '../helper.js';
import { ADMIN, onBothEngines, operatorKeyOn, userKeyOn } from './fixtures.js';

/** A Threat Cloud on a real socket with one reported IoC, on the engine; `env` can shrink the tier limits. */
async function threatCloud(t: Teardown, engine: Engine, env: Record<string, string> = {}) {
  const clock = new ManualClock();
  const postgres = await storageOn(engine);
  const { app, storage } = await buildTestApp(t, (deps) => buildThreatCloudApp(deps), { clock, env, ...(postgres ? { storage: postgres } : {}) });
  const operator = await operatorKeyOn(storage, clock, 'enterprise', ['read', 'write']);
  const seeded = await app.inject({
    method: 'POST',
    url: '/api/threats',
    headers: authHeader(operator.key),
    payload: { threats: [{ type: 'ip', value: '198.51.100.20', source: 'sensor', category: 'scanner' }] },
  });
  if (seeded.statusCode !== 201) throw new Error(seeded.body);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { app, storage, clock, operator, origin: `http://127.0.0.1:${port}` };
}

/**
 * A watched page whose `unexpected()` leaves out the failed loads a test provokes on purpose
 * (Chromium logs every refused request as a console error).
 */
async function watchedPageFor(browser: Browser, expectedFailures: RegExp) {
  const watched = await watchedPage(browser, { width: 1280, height: 900 });
  const unexpected = () => watched.problems.filter((text) => !(text.startsWith('Failed to load resource') && expectedFailures.test(text)));
  return { page: watched.page, unexpected };
}

async function signIn(page: Page, origin: string, key: string) {
  await page.goto(`${origin}/`);
  await page.fill('#api-key', key);
  await page.click('#connect');
}

let browser: Browser;
t.before(async () => {
  browser = await launchChromium(t);
});

onBothEngines('an invalid key is refused at sign-in, a revoked one shows a banner to sign in again', async (t, engine) => {
  const tc = await threatCloud(t, engine);
  const { page, unexpected } = await watchedPageFor(browser, /status of 401/);
  t.teardown(() => page.context().close());

  await signIn(page, tc.origin, 'pgk_not-a-real-key-0123456789abcdefghij');
  await page.waitForSelector('#login-error:has-text("refused this key (Invalid API key)")');
  t.equal(await page.evaluate('sessionStorage.getItem("panguard.tcApiKey")'), null, 'a refused key is not kept');
  t.ok(await page.isHidden('#console'));

  // A key that worked, revoked while the console is open: the next request says so.
  await page.fill('#api-key', tc.operator.key);
  await page.click('#connect');
  await page.waitForSelector('#view-overview[data-state="ready"]');
  const revoked = await tc.app.inject({ method: 'DELETE', url: `/api/admin/keys/${tc.operator.record.id}`, headers: ADMIN });
  t.equal(revoked.statusCode, 200);
  await page.click('#refresh');
  const banner = page.locator('.banner[data-status="401"]');
  await banner.waitFor();
  t.match(await banner.textContent(), /Your API key was refused \(Invalid API key\)\..*Sign in again with a valid key/);
  t.equal(await banner.getAttribute('role'), 'alert');
  await screenshotOn(engine, page, 'threat-cloud-error-401');
  await banner.locator('button:text-is("Sign in again")').click();
  t.ok(await page.isVisible('#login'), 'back at sign-in');
  t.equal(await page.evaluate('sessionStorage.getItem("panguard.tcApiKey")'), null, 'the revoked key is forgotten');
  t.same(unexpected(), [], 'no console errors or CSP violations besides the provoked failure');
});

onBothEngines('a community key sees why analytics are refused, and what it can still use', async (t, engine) => {
  const tc = await threatCloud(t, engine);
  const community = (await userKeyOn(tc.storage, tc.clock, 'community')).key;
  const { page, unexpected } = await watchedPageFor(browser, /status of 403/);
  t.teardown(() => page.context().close());
  const refusal = await tc.app.inject({ method: 'GET', url: '/api/query/timeseries', headers: authHeader(community) });
  t.equal(refusal.statusCode, 403);

  // Someone with a solo key looked at the charts and signed out; the community key comes next.
  await signIn(page, tc.origin, tc.operator.key);
  await page.waitForSelector('#view-overview[data-state="ready"]');
  await page.click('nav a[data-view="activity"]');
  await page.waitForSelector('#view-activity[data-state="ready"] canvas');
  await page.click('#logout');
  await page.fill('#api-key', community);
  await page.click('#connect');
  await page.waitForSelector('#view-activity[data-state="error"]');
  t.equal(await page.locator('#activity-result > *').count(), 0, "the previous key's chart is gone");
  t.equal(await page.textContent('#view-activity .updated'), '⚠ Not loaded');
  await page.click('nav a[data-view="overview"]');
  await page.waitForSelector('#view-overview[data-state="ready"]');
  for (const view of ['activity', 'attack', 'geography', 'trends']) {
    await page.click(`nav a[data-view="${view}"]`);
    await page.waitForSelector(`#view-${view}[data-state="error"]`);
    const banner = page.locator('.banner[data-kind="tier"]');
    t.equal(await banner.count(), 1, `${view}: one banner`);
    const text = (await banner.textContent()) ?? '';
    t.match(text, refusal.json().error, `${view}: the API's own reason`);
    t.match(text, 'solo tier or higher');
    t.match(text, 'Community keys can still look up indicators');
    if (view === 'activity') await screenshotOn(engine, page, 'threat-cloud-tier');
  }
  // The lookup is not tier-gated, and a view that loads clears nothing it should not.
  await page.click('nav a[data-view="lookup"]');
  await page.fill('#lookup-value', '198.51.100.20');
  await page.press('#lookup-value', 'Enter');
  await page.waitForSelector('#view-lookup[data-state="ready"]');
  t.match(await page.textContent('#lookup-indicator'), '198.51.100.20');
  t.same(unexpected(), [], 'no console errors or CSP violations besides the provoked failure');
});

onBothEngines('a 429 shows the wait the server asked for', async (t, engine) => {
  const tc = await threatCloud(t, engine, { TC_TIER_LIMITS: JSON.stringify({ pro: 4 }) });
  const pro = (await operatorKeyOn(tc.storage, tc.clock, 'pro', ['read'])).key;
  const { page, unexpected } = await watchedPageFor(browser, /status of 429/);
  t.teardown(() => page.context().close());
  const retryAfter: string[] = [];
  page.on('response', (response) => {
    if (response.status() === 429) retryAfter.push(response.headers()['retry-after'] ?? '');
  });

  // Sign-in and the overview use three of the four requests; a refresh goes over.
  await signIn(page, tc.origin, pro);
  await page.waitForSelector('#view-overview[data-state="ready"]');
  await page.click('#refresh');
  const banner = page.locator('.banner[data-status="429"]');
  await banner.waitFor();
  t.ok(retryAfter.length > 0 && Number(retryAfter[0]) > 0, `Retry-After ${retryAfter[0]}`);
  t.match(await banner.textContent(), `Wait ${retryAfter[0]} s (the server's Retry-After), then press Retry`);
  t.ok(await banner.locator('button:text-is("Retry")').isVisible(), 'a Retry button');
  t.equal(await page.getAttribute('#view-overview', 'data-state'), 'error', 'the view says it did not refresh');
  t.match(await page.textContent('#view-overview .updated'), /^⚠ Not refreshed: showing data from \d\d:\d\d:\d\d$/);
  await screenshotOn(engine, page, 'threat-cloud-error-429');
  t.same(unexpected(), [], 'no console errors or CSP violations besides the provoked failure');
});

// One engine: the server stops, not its database; no stored row decides the banner.
t.test('a stopped server is a banner, not a silent stale page', async (t) => {
  const tc = await threatCloud(t, 'sqlite');
  const { page, unexpected } = await watchedPageFor(browser, /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/);
  t.teardown(() => page.context().close());
  await signIn(page, tc.origin, tc.operator.key);
  await page.waitForSelector('#view-overview[data-state="ready"]');

  await tc.app.close();
  await page.click('#refresh');
  const banner = page.locator('.banner[data-kind="network"]');
  await banner.waitFor();
  t.match(await banner.textContent(), /cannot be reached.*Check that it is running, then press Retry/);
  t.equal(await page.getAttribute('#view-overview', 'data-state'), 'error');
  t.match(await page.textContent('#view-overview .updated'), 'Not refreshed: showing data from', 'stale data is marked stale');
  await screenshotOn('sqlite', page, 'threat-cloud-error-network');
  // Retrying while it is still down keeps one banner, not a pile of them.
  await banner.locator('button:text-is("Retry")').click();
  await page.waitForSelector('#view-overview[data-state="error"]');
  t.equal(await page.locator('.banner').count(), 1);
  t.same(unexpected(), [], 'no console errors or CSP violations besides the provoked failure');
});
