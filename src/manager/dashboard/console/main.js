// The console once signed in: a hash router over the views, the error banner, the
// "last updated" time, and one live stream whose events refresh the view on screen.
import { createApi } from './api.js';
import { createBanner } from './banner.js';
import { $ } from './dom.js';
import { agentView } from './agent.js';
import { fleetView } from './fleet.js';
import { createLive } from './live.js';
import { policiesView } from './policies.js';
import { threatsView } from './threats.js';

const POLL_MS = 30000;
// Live events come in bursts; a view is read again at most every 5 s, which keeps a busy
// fleet's console well under the Manager's default 60 requests per minute.
const MIN_REFRESH_GAP_MS = 5000;

let session = null;

function lastUpdated(state) {
  const node = $('last-updated');
  if (!state.at) {
    node.textContent = 'not loaded yet';
    return;
  }
  const at = state.at.toLocaleTimeString();
  node.textContent = state.stale ? `Data as of ${at} (not current)` : `Updated ${at}`;
  node.classList.toggle('stale', state.stale);
  node.dataset.updated = state.at.toISOString();
}

export function start({ token, signOut }) {
  stop();
  const updated = { at: null, stale: false };
  const banner = createBanner({ onRetry: () => refreshNow() });
  const fresh = () => {
    updated.at = new Date();
    updated.stale = false;
    lastUpdated(updated);
  };
  const failed = (error) => {
    updated.stale = true;
    lastUpdated(updated);
    banner.show(error);
  };
  const api = createApi(token, {
    onSuccess() {
      fresh();
      banner.clear();
    },
    onError: failed,
  });
  const ctx = { api, banner };
  const views = {
    fleet: fleetView(ctx),
    agent: agentView(ctx),
    threats: threatsView(ctx),
    policies: policiesView(ctx),
    live: null,
  };
  const live = createLive({ token, banner, onData: fresh, onFailure: failed, onEvent: () => scheduleRefresh() });
  views.live = live.view;

  let current = null;
  let lastRefresh = 0;
  let pending = null;

  function refreshNow() {
    lastRefresh = Date.now();
    if (current) current.view.refresh().catch(() => {});
    live.retryNow();
  }

  function scheduleRefresh() {
    if (pending) return;
    const wait = Math.max(300, lastRefresh + MIN_REFRESH_GAP_MS - Date.now());
    pending = setTimeout(() => {
      pending = null;
      refreshNow();
    }, wait);
  }

  function route() {
    const [name = 'fleet', ...rest] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    const key = name in views ? name : 'fleet';
    for (const [viewName, view] of Object.entries(views)) {
      $(`view-${viewName}`).hidden = viewName !== key;
      if (viewName !== key && view.hide) view.hide();
    }
    for (const a of $('nav').querySelectorAll('a')) {
      if (a.dataset.view === key || (key === 'agent' && a.dataset.view === 'fleet')) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    current = { name: key, view: views[key] };
    lastRefresh = Date.now();
    current.view.show(rest).catch(() => {});
  }

  window.addEventListener('hashchange', route);
  const poll = setInterval(() => {
    if (Date.now() - lastRefresh >= POLL_MS / 2) refreshNow();
  }, POLL_MS);
  live.connect();
  route();

  session = {
    stop() {
      window.removeEventListener('hashchange', route);
      clearInterval(poll);
      clearTimeout(pending);
      live.stop();
      banner.reset();
      for (const view of Object.values(views)) if (view.hide) view.hide();
    },
  };
  // A 401/403 banner offers sign-out; the entry script owns the session.
  ctx.signOut = signOut;
}

export function stop() {
  if (session) session.stop();
  session = null;
}
