import { axeViolations, fitsWidth, launchChromium, screenshotOn, signInToConsole, startManager, watchedPage } from '../browser.js';
import { storageOn } from '../engines.js';
import { onBothEngines, OPERATOR, register } from './fixtures.js';

const custom = { type: 'custom', config: { condition: 'c', action: 'a' } };

onBothEngines('the policies view shows active, org and override policies and creates one from JSON with the API error next to it', async (t, engine) => {
  const { app, origin } = await startManager(t, { storage: await storageOn(engine) });
  const post = (url: string, payload: unknown, method: 'POST' | 'PUT' = 'POST') => app.inject({ method, url, headers: OPERATOR, payload: payload as object });
  const agent = await register(app, { hostname: 'override-host', org_id: 'acme' });
  t.equal((await post('/api/policy', { name: 'Global', rules: [custom] })).statusCode, 201);
  t.equal((await post('/api/policy', { name: 'Acme', org_id: 'acme', rules: [custom, custom] })).statusCode, 201);
  t.equal((await post(`/api/policy/agent/${agent.id}`, { rules: [custom] }, 'PUT')).statusCode, 200);

  const browser = await launchChromium(t, ['--ignore-certificate-errors']);
  const { page, problems } = await watchedPage(browser);
  await signInToConsole(page, origin, 'policies');

  await page.waitForSelector('#history-range:text-is("1–3 of 3")');
  // The view's reads answer independently (the history first, on a slower database too):
  // each part is waited for before it is read.
  await page.waitForSelector('#policy-global .policy-version');
  await page.waitForSelector(`#policy-overrides tbody tr:has-text("${agent.id}")`);
  t.match(await page.textContent('#policy-global .policy-version'), 'v1');
  t.match(await page.textContent('#policy-overrides tbody'), new RegExp(`v3${agent.id}1.*yes`));
  await page.fill('#policy-org', 'acme');
  await page.press('#policy-org', 'Enter');
  await page.waitForSelector('#policy-org-result .policy-version:text-is("v2")');

  // Not JSON: said so locally, nothing sent.
  await page.fill('#policy-json', '{ "name": ');
  await page.click('#policy-submit');
  await page.waitForSelector('#policy-json-error:has-text("Not valid JSON")');
  // A bad field: the API's message, which names it, next to the input.
  const bad = { name: 'Strict', rules: [{ type: 'block_ip', config: { trigger: 'brute_force', threshold: 0, duration: '24h', scope: 'host' } }] };
  const refused = await post('/api/policy', bad);
  t.equal(refused.statusCode, 400);
  await page.fill('#policy-json', JSON.stringify(bad));
  await page.click('#policy-submit');
  await page.waitForSelector(`#policy-json-error:text-is(${JSON.stringify(refused.json().error)})`);
  t.equal(await page.getAttribute('#policy-json', 'aria-invalid'), 'true');
  t.equal(await page.getAttribute('#policy-json', 'aria-describedby'), 'policy-json-error', 'the message is tied to the input');
  t.ok(await page.isHidden('#banner'), 'a validation error is shown by the input, not as a banner');

  bad.rules[0]!.config.threshold = 5;
  await page.fill('#policy-json', JSON.stringify(bad));
  await page.click('#policy-submit');
  await page.waitForSelector('#policy-created:has-text("Created v4")');
  await page.waitForSelector('#history-range:text-is("1–4 of 4")');
  t.equal((await (await app.inject({ url: '/api/policy/active', headers: OPERATOR })).json()).data.version, 'v4');
  t.match(await page.textContent('#policy-global .policy-version'), 'v4');

  await screenshotOn(engine, page, 'manager-policies');
  t.same(await axeViolations(page), [], 'no serious or critical accessibility violation');
  await page.setViewportSize({ width: 800, height: 900 });
  t.ok(await fitsWidth(page), 'fits 800 px');
  t.same(problems.filter((p) => !p.includes('400')), [], 'no console errors or CSP violations (the refused policy aside)');
});
