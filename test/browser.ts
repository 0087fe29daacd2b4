import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ResolvedConfig } from '../src/config.js';
import { buildManagerApp, type ManagerOptions } from '../src/manager/app.js';
import type { App } from '../src/shared/base-app.js';
import { ensureSelfSignedCertificate } from '../src/shared/certificate.js';
import { systemClock, type Clock } from '../src/shared/clock.js';
import type { Db } from '../src/shared/db/open.js';
import type { Storage } from '../src/shared/db/storage.js';
import type { Engine } from './engines.js';
import { sqliteDeps, tempDir, testConfig, testDb, TEST_SECRETS, type Teardown } from './helper.js';

/** Debian's Chromium, headless, with the flags this closed network needs (no background calls). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(teardown: { teardown(fn: () => unknown): void }, extraArgs: string[] = []): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, ...extraArgs] });
  teardown.teardown(() => browser.close());
  return browser;
}

/**
 * Where a view's screenshot is saved: test/artifacts/<name>.png, a test artifact that is not
 * committed (every run would change the files). The README's two pictures are copies kept in
 * test/screenshots/.
 */
export function screenshotPath(name: string): string {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.png`);
}

/**
 * Saves a view's screenshot from the SQLite run only: the PostgreSQL run shows the same page,
 * and one picture per view keeps test/artifacts from doubling.
 */
export async function screenshotOn(engine: Engine, page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  if (engine === 'sqlite') await page.screenshot({ path: screenshotPath(name), ...options });
}

/**
 * A page that records what must never happen: console errors, uncaught exceptions and
 * Content-Security-Policy violations (reported by the page itself, since Chromium's console
 * message alone does not say which directive). Clear `problems` after an expected failure.
 */
export async function watchedPage(
  browser: Browser,
  options: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {},
): Promise<{ page: Page; problems: string[]; requests: string[] }> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: options.width ?? 1400, height: options.height ?? 900 },
    colorScheme: options.colorScheme ?? 'light',
  });
  const page = await context.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  await page.exposeFunction('__reportCspViolation', (text: string) => problems.push(`CSP violation: ${text}`));
  // A string, because this runs in the page (the tests are type-checked without the DOM library).
  await page.addInitScript({
    content: "document.addEventListener('securitypolicyviolation', (e) => window.__reportCspViolation(e.violatedDirective + ' ' + e.blockedURI));",
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('request', (request) => requests.push(request.url()));
  return { page, problems, requests };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

const axeSource = () => {
  const require = createRequire(import.meta.url);
  return readFileSync(path.join(path.dirname(require.resolve('axe-core')), 'axe.min.js'), 'utf8');
};

/**
 * axe-core's serious and critical violations on the page as it is now. The script is
 * evaluated through the DevTools protocol, so the page's CSP (default-src 'self') does not
 * block it and need not be relaxed for the test.
 */
export async function axeViolations(page: Page, impacts: string[] = ['serious', 'critical']): Promise<AxeViolation[]> {
  const loaded = await page.evaluate('typeof window.axe !== "undefined"');
  if (!loaded) await page.evaluate(axeSource());
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
  })))`)) as AxeViolation[];
  return violations.filter((v) => v.impact !== null && impacts.includes(v.impact));
}

/** True when the page needs no horizontal scrolling at its current width. */
export async function fitsWidth(page: Page): Promise<boolean> {
  return (await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')) as boolean;
}

export interface ManagerServer {
  app: App;
  /** The SQLite file; with a PostgreSQL `storage` a file the app never uses. */
  db: Db;
  /** What the app runs on: the port over `db`, or the storage it was given. */
  storage: Storage;
  config: ResolvedConfig;
  origin: string;
  port: number;
}

/**
 * The Manager as the process runs it (real clock unless one is given), HTTPS with a self-signed
 * certificate, a real socket. With `storage` (`storageOn(engine)`) it runs on that database
 * instead of its SQLite file, and closes the storage after itself (hand a second app `borrowed`).
 */
export async function startManager(
  t: Teardown,
  options: {
    env?: Record<string, string>;
    db?: Db;
    storage?: Storage;
    config?: ResolvedConfig;
    port?: number;
    clock?: Clock;
    manager?: ManagerOptions;
    beforeListen?: (app: App) => Promise<void>;
  } = {},
): Promise<ManagerServer> {
  const config = options.config ?? testConfig(t, { MANAGER_RATE_LIMIT: '100000', ...options.env });
  const db = options.db ?? testDb(t, config);
  const clock = options.clock ?? systemClock;
  const { storage } = options;
  const deps = storage ? { storage, config, clock } : sqliteDeps(db, config, clock);
  const certs = tempDir(t, 'panguard-certs-');
  const tls = await ensureSelfSignedCertificate(path.join(certs, 'manager.crt'), path.join(certs, 'manager.key'));
  const app = await buildManagerApp({ ...deps, https: { cert: tls.cert, key: tls.key } }, options.manager);
  t.teardown(async () => {
    await app.close();
    await storage?.close();
  });
  if (options.beforeListen) await options.beforeListen(app);
  await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { app, db, storage: deps.storage, config, origin: `https://127.0.0.1:${port}`, port };
}

/** Opens the Manager console and signs in with the operator token (or the one given). */
export async function signInToConsole(page: Page, origin: string, view = 'fleet', token = TEST_SECRETS.managerAuthToken): Promise<void> {
  await page.goto(`${origin}/#/${view}`);
  await page.fill('#token', token);
  await page.click('#connect');
  await page.waitForSelector('#dashboard', { state: 'visible' });
}
