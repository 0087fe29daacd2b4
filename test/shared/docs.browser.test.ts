import t from 'tap';
import { buildAuthApp } from '../../src/auth/app.js';
import { launchChromium } from '../browser.js';
import { buildTestApp } from '../helper.js';


t.test('/docs renders the OpenAPI UI in a real browser under the service CSP', async (t) => {
  const { app } = await buildTestApp(t, buildAuthApp);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
  page.on('pageerror', (error) => problems.push(error.message));
  const response = await page.goto(`${address}/docs/`, { waitUntil: 'load' });
  t.equal(response?.status(), 200);
  const csp = (await response!.allHeaders())['content-security-policy'] ?? '';
  t.match(csp, "script-src 'self';", 'scripts stay same-origin on /docs');
  t.notMatch(csp, /script-src[^;]*unsafe/, 'no inline or eval scripts allowed');
  await page.waitForSelector('.swagger-ui .info .title', { timeout: 15_000 });
  t.match(await page.textContent('.swagger-ui .info .title'), 'Panguard Auth Server');
  await page.waitForSelector('.opblock-summary-path', { timeout: 15_000 });
  const paths = await page.$$eval('.opblock-summary-path', (nodes) => nodes.map((n) => n.textContent?.trim()));
  t.ok(paths.includes('/health'), 'the routes of the service are listed');
  t.same(problems.filter((p) => /Content Security Policy|Refused/.test(p)), [], 'no CSP violations');
});
