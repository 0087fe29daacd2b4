// The console's shell: sign-in, the view router (#view/part?query) and error routing to banners.
import { ApiError, getJson, session } from './api.js';
import { clearBanners, dismiss, showError } from './banners.js';
import * as overview from './views/overview.js';
import * as lookup from './views/lookup.js';
import * as activity from './views/activity.js';
import * as attack from './views/attack.js';
import * as geography from './views/geography.js';
import * as trends from './views/trends.js';
import * as campaigns from './views/campaigns.js';
import * as downloads from './views/downloads.js';

const VIEWS = { overview, lookup, activity, attack, geography, trends, campaigns, downloads };
const $ = (id) => document.getElementById(id);

/** `#campaigns/campaign_x?page=2` → { name: 'campaigns', part: 'campaign_x', params } */
function route() {
  const hash = location.hash.slice(1);
  // Split before decoding: a looked-up URL may carry its own `?` and `&`.
  const mark = hash.indexOf('?');
  const path = mark < 0 ? hash : hash.slice(0, mark);
  const [name, ...rest] = path.split('/').map(decodeURIComponent);
  return { name: VIEWS[name] ? name : 'overview', part: rest.join('/') || null, params: new URLSearchParams(mark < 0 ? '' : hash.slice(mark + 1)) };
}

let generation = 0;

/** Shows the view the address names; `focus` moves keyboard focus to its heading. */
async function show(focus = false) {
  const current = route();
  const mine = ++generation;
  for (const name of Object.keys(VIEWS)) {
    const section = $(`view-${name}`);
    section.hidden = name !== current.name;
    const link = document.querySelector(`nav a[data-view="${name}"]`);
    if (name === current.name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const section = $(`view-${current.name}`);
  document.title = `${section.querySelector('h2').textContent} — Panguard Threat Cloud`;
  if (focus) section.querySelector('h2').focus();
  section.dataset.state = 'loading';
  section.setAttribute('aria-busy', 'true');
  try {
    await VIEWS[current.name].show(current, context);
    if (mine !== generation) return;
    section.dataset.state = 'ready';
    section.dataset.updated = new Date().toLocaleTimeString('en-GB');
    section.querySelector('.updated').textContent = `Updated ${section.dataset.updated}`;
    // A view that loaded is proof the server answers again.
    for (const kind of ['network', 'server', 'rate']) dismiss(kind);
  } catch (error) {
    if (mine !== generation) return;
    section.dataset.state = 'error';
    // Data left on screen from an earlier load must not pass for live data.
    section.querySelector('.updated').textContent = section.dataset.updated
      ? `⚠ Not refreshed: showing data from ${section.dataset.updated}`
      : '⚠ Not loaded';
    report(error);
  } finally {
    section.removeAttribute('aria-busy');
  }
}

function report(error) {
  if (!(error instanceof ApiError)) {
    console.warn(error);
    error = new ApiError(0, String(error?.message ?? error), { path: '' });
  }
  showError(error, { retry: () => show(), signIn: signOut });
}

/** What views get: error reporting for parts that fail on their own (a chart, a side table). */
const context = { report, navigate: (hash) => (location.hash = hash) };

function signedIn() {
  const key = session.key();
  $('login').hidden = true;
  $('console').hidden = false;
  $('session').hidden = false;
  $('key-label').textContent = `Key ${key.slice(0, 4)}…${key.slice(-4)}`;
  show();
}

/** What one key was shown must not linger for the next one. */
function clearViews() {
  for (const section of document.querySelectorAll('.view')) {
    for (const results of section.querySelectorAll('[data-results]')) results.replaceChildren();
    delete section.dataset.state;
    delete section.dataset.updated;
    section.querySelector('.updated').textContent = '';
  }
}

function signOut() {
  session.forget();
  clearBanners();
  clearViews();
  $('console').hidden = true;
  $('session').hidden = true;
  $('login').hidden = false;
  $('api-key').value = '';
  $('api-key').focus();
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = $('api-key').value.trim();
  $('login-error').textContent = '';
  try {
    await getJson('/api/stats', undefined, key);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      $('login-error').textContent = `The Threat Cloud refused this key (${error.message}). Check it and try again.`;
    } else {
      report(error);
    }
    return;
  }
  session.remember(key);
  clearBanners();
  signedIn();
  $('main').focus();
});

$('logout').addEventListener('click', signOut);
$('refresh').addEventListener('click', () => show());
window.addEventListener('hashchange', () => {
  if (session.key()) show(true);
});
for (const view of Object.values(VIEWS)) view.init?.(context);

if (session.key()) signedIn();
