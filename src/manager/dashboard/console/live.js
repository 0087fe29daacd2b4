// The live stream (GET /api/events/stream), read with fetch so the token stays in a header.
// The id of the last event seen is kept for the tab, and every (re)connect sends it as
// Last-Event-ID: the Manager replays what was missed, and on a first visit ("0") the
// recent events it keeps, so the feed never starts empty when something has happened.
import { ApiError } from './api.js';
import { $, el } from './dom.js';

const LAST_ID_KEY = 'panguard.managerLastEventId';
const FEED_LIMIT = 200;
const MAX_BACKOFF_MS = 10000;

function describe(event, data) {
  switch (event) {
    case 'agent_online': return `${data.hostname} online (${data.ip})`;
    case 'agent_offline': return `${data.hostname} offline, last seen ${new Date(data.lastSeen).toLocaleString()}`;
    case 'threats_reported': return `${data.hostname} reported ${data.count} event(s), max severity ${data.maxSeverity}`;
    case 'policy_created': return `policy ${data.version} created with ${data.ruleCount} rule(s)`;
    default: return data.message || JSON.stringify(data);
  }
}

/** Splits one SSE frame into its fields; comments (`: keepalive`) give no event. */
function parseFrame(frame) {
  const out = { id: null, event: 'message', data: '' };
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') out.id = value;
    else if (field === 'event') out.event = value;
    else if (field === 'data') out.data += value;
  }
  return out;
}

export function createLive({ token, banner, onData, onFailure, onEvent }) {
  let controller = null;
  let retryTimer = null;
  let backoff = 1000;
  let stopped = false;
  let lastEventId = sessionStorage.getItem(LAST_ID_KEY) || '0';

  function setState(text, kind) {
    $('stream-state').textContent = `stream: ${text}`;
    $('stream-state').dataset.state = kind;
    $('live-state').textContent = text;
  }

  function touched() {
    $('live-last-time').textContent = new Date().toLocaleTimeString();
    onData();
  }

  function addToFeed(id, event, text) {
    const li = el('li');
    li.dataset.event = event;
    if (id) li.dataset.id = id;
    li.append(el('span', new Date().toLocaleTimeString(), 'feed-time'), el('span', event, 'event-name'), el('span', text));
    const feed = $('feed');
    feed.prepend(li);
    while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
  }

  function handle(frame) {
    touched();
    const { id, event, data } = parseFrame(frame);
    if (!data) return;
    if (id !== null) {
      lastEventId = id;
      sessionStorage.setItem(LAST_ID_KEY, id);
      $('live-last-id').textContent = id;
    }
    if (event === 'connected') {
      setState('live', 'live');
      addToFeed(null, 'connected', `connected; events after #${id} follow`);
      return;
    }
    addToFeed(id, event, describe(event, JSON.parse(data)));
    onEvent(event);
  }

  function reconnectLater(ms, text) {
    if (stopped) return;
    clearTimeout(retryTimer);
    setState(text ?? `reconnecting in ${Math.round(ms / 1000)} s`, 'reconnecting');
    retryTimer = setTimeout(connect, ms);
  }

  async function connect() {
    if (stopped) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    setState('connecting', 'connecting');
    const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream', 'Last-Event-ID': lastEventId };
    let res;
    try {
      res = await fetch('/api/events/stream', { headers, signal: mine.signal, cache: 'no-store' });
    } catch {
      if (mine.signal.aborted) return;
      onFailure(new ApiError('network', 0, 'The live stream cannot reach the Manager.'));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      return reconnectLater(backoff);
    }
    if (!res.ok || !res.body) {
      const body = await res.json().catch(() => null);
      const message = (body && body.error) || `HTTP ${res.status}`;
      const retryAfter = Number(res.headers.get('retry-after')) || null;
      const kind = res.status === 401 ? 'unauthorized' : res.status === 403 ? 'forbidden' : res.status === 429 ? 'rate_limited' : res.status >= 500 ? 'server' : 'client';
      onFailure(new ApiError(kind, res.status, `Live stream: ${message}`, { retryAfter, requestId: res.headers.get('x-request-id') }));
      if (kind === 'unauthorized' || kind === 'forbidden') return setState('refused', 'refused');
      return reconnectLater(retryAfter ? retryAfter * 1000 : 5000);
    }
    backoff = 1000;
    banner.clear();
    try {
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          handle(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      if (mine.signal.aborted) return;
    }
    // The Manager ended the stream (a restart, or this client was too slow): pick up
    // where it left off.
    if (controller === mine) reconnectLater(1000);
  }

  const view = {
    async show() {
      $('live-last-id').textContent = lastEventId;
    },
    async refresh() {},
  };

  return {
    view,
    connect,
    /** The banner's "Retry now": reconnect at once if waiting to. */
    retryNow() {
      if (retryTimer) connect();
    },
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      if (controller) controller.abort();
      controller = null;
    },
  };
}
