import path from 'node:path';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { launchChromium } from '../browser.js';
import { buildManagerApp } from '../../src/manager/app.js';
import { ensureSelfSignedCertificate } from '../../src/shared/certificate.js';
import { systemClock } from '../../src/shared/clock.js';
import { TEST_SECRETS, tempDir, testConfig, testDb } from '../helper.js';
import { event, OPERATOR, register } from './fixtures.js';


t.test('the dashboard shows the fleet and live events in real Chromium over HTTPS', async (t) => {
  const config = testConfig(t, { MANAGER_RATE_LIMIT: '100000' });
  const db = testDb(t, config);
  const certs = tempDir(t, 'panguard-certs-');
  const tls = await ensureSelfSignedCertificate(path.join(certs, 'manager.crt'), path.join(certs, 'manager.key'));
  const app = await buildManagerApp({ db, config, clock: systemClock, https: { cert: tls.cert, key: tls.key } });
  t.teardown(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const origin = `https://127.0.0.1:${port}`;

  // The dashboard is served with the test's self-signed certificate.
  const browser = await launchChromium(t, ['--ignore-certificate-errors']);
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  const requestedUrls: string[] = [];
  page.on('request', (request) => requestedUrls.push(request.url()));

  const response = await page.goto(`${origin}/`);
  t.equal(response?.status(), 200);
  t.equal(response?.headers()['content-security-policy'], "default-src 'self'");
  t.ok(await page.isVisible('#login'), 'asks for the token first');
  t.notOk(await page.isVisible('#dashboard'));

  // A wrong token is refused and not kept.
  await page.fill('#token', 'not-the-token-0123456789abcdefghijklmnop');
  await page.click('#connect');
  await page.waitForSelector('#login-error:has-text("refused")');
  t.equal(await page.evaluate('sessionStorage.getItem("panguard.managerToken")'), null);
  problems.length = 0; // the refused token's 401 was expected

  await page.fill('#token', TEST_SECRETS.managerAuthToken);
  await page.click('#connect');
  await page.waitForSelector('#dashboard', { state: 'visible' });
  await page.waitForSelector('#stream-state:has-text("live")');
  t.equal(await page.textContent('#count-total'), '0');
  t.equal(await page.evaluate('sessionStorage.getItem("panguard.managerToken")'), TEST_SECRETS.managerAuthToken, 'token kept in sessionStorage');
  t.equal(await page.evaluate('localStorage.length'), 0, 'nothing in localStorage');

  // An agent registers and reports through the API; the page updates without a reload.
  const agent = await register(app, { hostname: 'browser-agent-01', ip: '10.20.30.40', os: 'linux' });
  await page.waitForSelector('#feed li[data-event="agent_online"]:has-text("browser-agent-01")');
  await page.waitForSelector('#agents tbody tr:has-text("browser-agent-01")');
  await page.waitForSelector('#count-online:text-is("1")');
  const posted = await app.inject({
    method: 'POST',
    url: `/api/agents/${agent.id}/events`,
    headers: agent.headers,
    payload: { events: [event({ severity: 'critical', details: { sourceIp: '203.0.113.9' } }), event({ type: 'port_scan', severity: 'medium' })] },
  });
  t.equal(posted.statusCode, 201);
  await page.waitForSelector('#feed li[data-event="threats_reported"]:has-text("max severity critical")');
  await page.waitForSelector('#threat-total:text-is("2")');
  t.match(await page.textContent('#threat-ips'), '203.0.113.9');
  await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'Baseline', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
  await page.waitForSelector('#active-policy:text-is("v1")');
  t.equal(await page.textContent('#agents tbody tr td:nth-child(2)'), 'online');
  t.equal(page.url(), `${origin}/`, 'no reload and no token in the URL');
  t.notOk(requestedUrls.some((url) => url.includes(TEST_SECRETS.managerAuthToken)), 'the token never travels in a URL');
  t.notOk(requestedUrls.some((url) => !url.startsWith(origin)), 'no third-party request (no CDN)');

  await page.screenshot({ path: '/tmp/dashboard.png', fullPage: true });
  t.same(problems, [], 'no console errors (CSP violations included)');

  // A reload keeps the session (sessionStorage), signing out forgets it.
  await page.reload();
  await page.waitForSelector('#agents tbody tr:has-text("browser-agent-01")');
  await page.click('#logout');
  t.ok(await page.isVisible('#login'));
  t.equal(await page.evaluate('sessionStorage.getItem("panguard.managerToken")'), null);
});
