import t from 'tap';
import { axeViolations, launchChromium, screenshotOn, signInToConsole, startManager, watchedPage } from '../browser.js';
import { execute, storageOn } from '../engines.js';
import { onBothEngines, register } from './fixtures.js';

const TOKEN_KEY = 'panguard.managerToken';

onBothEngines('a refused token (401) and an agent token (403) get a banner that says what to do', async (t, engine) => {
  const { app, origin } = await startManager(t, { storage: await storageOn(engine) });
  const agent = await register(app, { hostname: 'agent-with-token' });
  const browser = await launchChromium(t, ['--ignore-certificate-errors']);
  const { page } = await watchedPage(browser);

  // A wrong token at sign-in is refused and not kept.
  await page.goto(`${origin}/`);
  await page.fill('#token', 'not-the-token-0123456789abcdefghijklmnop');
  await page.click('#connect');
  await page.waitForSelector('#login-error:has-text("refused")');
  t.equal(await page.evaluate(`sessionStorage.getItem("${TOKEN_KEY}")`), null);

  // A token kept in the tab that the Manager no longer accepts (MANAGER_AUTH_TOKEN replaced).
  await page.evaluate(`sessionStorage.setItem("${TOKEN_KEY}", "replaced-token-0123456789abcdefghijklmnopqrs")`);
  await page.goto(`${origin}/#/fleet`);
  await page.reload();
  await page.waitForSelector('#banner[data-kind="unauthorized"]:not([hidden])');
  t.match(await page.textContent('#banner'), /401/);
  t.match(await page.textContent('#banner'), /Sign out and sign in with the current operator token/);
  t.ok(await page.isVisible('#banner-signout'));
  await screenshotOn(engine, page, 'manager-error');
  t.same(await axeViolations(page), [], 'the banner is accessible');
  await page.click('#banner-signout');
  await page.waitForSelector('#login', { state: 'visible' });
  t.equal(await page.evaluate(`sessionStorage.getItem("${TOKEN_KEY}")`), null, 'signing out forgets the token');

  // An agent token may not read the fleet: 403, said so.
  await page.evaluate(`sessionStorage.setItem("${TOKEN_KEY}", ${JSON.stringify(agent.token)})`);
  await page.goto(`${origin}/#/threats`);
  await page.reload();
  await page.waitForSelector('#banner[data-kind="forbidden"]:not([hidden])');
  t.match(await page.textContent('#banner'), /403/);
  t.match(await page.textContent('#banner'), /operator token/);
});

// One engine: the limiter counts in memory and the console is refused before any stored row matters.
t.test('a rate limit shows its Retry-After and that the console will retry', async (t) => {
  const { origin } = await startManager(t, { env: { MANAGER_RATE_LIMIT: '4' } });
  const browser = await launchChromium(t, ['--ignore-certificate-errors']);
  const { page, problems } = await watchedPage(browser);
  // Sign-in (1) and the fleet (2) fit; the stream (4) and moving between views do not.
  await signInToConsole(page, origin);
  await page.click('#nav a[data-view="threats"]');
  await page.waitForSelector('#banner[data-kind="rate_limited"]:not([hidden])');
  const text = await page.textContent('#banner');
  t.match(text, /429/);
  t.match(text, /Retry-After: \d+ s/, 'the wait is shown');
  t.match(text, /retries by itself/);
  t.match(await page.textContent('#last-updated'), /not current|not loaded/, 'stale data is marked as such');
  t.ok(problems.every((p) => p.includes('429')), 'only the refused requests are logged');
});

onBothEngines('a 5xx shows the request id to look for in the log', async (t, engine) => {
  const { storage, origin } = await startManager(t, { storage: await storageOn(engine) });
  const browser = await launchChromium(t, ['--ignore-certificate-errors']);
  const { page } = await watchedPage(browser);
  await signInToConsole(page, origin);
  await page.waitForSelector('#fleet-range:text-is("0 of 0")');
  // The fleet's kept counts (what the unfiltered list reads) go missing under the running
  // Manager: an unexpected failure on either engine. Closing the database would not do: a
  // gone PostgreSQL pool is a 503 "Database unavailable", a closed SQLite handle a 500.
  await execute(storage, 'ALTER TABLE fleet_counts RENAME TO fleet_counts_gone');
  await page.click('#fleet-apply');
  await page.waitForSelector('#banner[data-kind="server"]:not([hidden])');
  const text = await page.textContent('#banner');
  t.match(text, /HTTP 500/);
  t.match(text, /Internal server error \(request id [\w-]+\)/);
  t.match(text, /Manager log/);
  t.match(await page.textContent('#last-updated'), /not current/);
});
