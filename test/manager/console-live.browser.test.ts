import { axeViolations, launchChromium, screenshotOn, signInToConsole, startManager, watchedPage } from '../browser.js';
import { storageOn } from '../engines.js';
import { borrowed, event, onBothEngines, OPERATOR, register } from './fixtures.js';

onBothEngines('the live view replays on connect, shows an event within 2 s and replays what it missed across a restart', async (t, engine) => {
  // The restarted Manager owns the database (and closes a PostgreSQL pool once); the first borrows it.
  const storage = await storageOn(engine);
  const first = await startManager(t, { storage: storage && borrowed(storage) });
  // Happened before the console opened: replayed on connect, so the feed does not start empty.
  const early = await register(first.app, { hostname: 'early-bird' });

  const browser = await launchChromium(t, ['--ignore-certificate-errors']);
  const { page, problems } = await watchedPage(browser);
  await signInToConsole(page, first.origin, 'live');
  await page.waitForSelector('#feed li[data-event="agent_online"]:has-text("early-bird")');
  await page.waitForSelector('#stream-state:text-is("stream: live")');
  t.equal(await page.textContent('#live-state'), 'live');

  // An API call's event reaches the page within 2 s.
  const posted = await first.app.inject({
    method: 'POST',
    url: `/api/agents/${early.id}/events`,
    headers: early.headers,
    payload: { events: [event({ severity: 'critical' })] },
  });
  t.equal(posted.statusCode, 201);
  await page.waitForSelector('#feed li[data-event="threats_reported"]:has-text("max severity critical")', { timeout: 2000 });
  const seenId = await page.textContent('#live-last-id');
  t.match(seenId, /^\d+$/);
  await page.waitForSelector('#last-updated:has-text("Updated")');

  // The Manager stops: the console says so, and keeps trying.
  const beforeStop = problems.length;
  await first.app.close();
  await page.waitForSelector('#stream-state[data-state="reconnecting"]');
  await page.waitForSelector('#banner[data-kind="network"]:not([hidden])');
  t.match(await page.textContent('#banner'), /unreachable/i);
  t.match(await page.textContent('#banner'), /running/, 'says what to do');

  // Events happen while it is away (stored by the restarted Manager before it listens) …
  await startManager(t, {
    db: first.db,
    storage,
    config: first.config,
    port: first.port,
    beforeListen: async (app) => {
      await register(app, { hostname: 'while-away' });
      await app.inject({ method: 'POST', url: '/api/policy', headers: OPERATOR, payload: { name: 'P', rules: [{ type: 'custom', config: { condition: 'c', action: 'a' } }] } });
    },
  });
  // … and are replayed after the reconnect, after what was seen before.
  await page.waitForSelector('#feed li[data-event="agent_online"]:has-text("while-away")', { timeout: 15000 });
  await page.waitForSelector('#feed li[data-event="policy_created"]:has-text("policy v1")');
  await page.waitForSelector('#stream-state:text-is("stream: live")');
  await page.waitForSelector('#banner', { state: 'hidden' });
  const backAgain = problems.length;
  const ids = (await page.evaluate(`Array.from(document.querySelectorAll('#feed li[data-id]'), (li) => Number(li.dataset.id))`)) as number[];
  t.same(ids, [...ids].sort((a, b) => b - a), 'newest first, each event once');
  t.equal(new Set(ids).size, ids.length, 'no event shown twice');
  t.ok(ids.every((id) => id > 0) && ids[0]! > Number(seenId));

  await screenshotOn(engine, page, 'manager-live');
  t.same(await axeViolations(page), [], 'no serious or critical accessibility violation');
  // While the Manager is away its requests fail: refused connections, or the 503 a closing
  // server answers to a poll that arrives during its graceful shutdown. Nothing else.
  const whileAway = problems.slice(beforeStop, backAgain);
  t.same(whileAway.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to fetch|ERR_|status of 503 \(Service Unavailable\)/.test(p)), [], 'while away: only failed connections and shutdown 503s');
  t.same(problems.slice(0, beforeStop), [], 'no console error or CSP violation before the stop');
  t.same(problems.slice(backAgain).filter((p) => !/ERR_CONNECTION_REFUSED|Failed to fetch|ERR_/.test(p)), [], 'none after the return but a late report of a refused connection');
});
