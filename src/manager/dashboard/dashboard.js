// Panguard fleet dashboard. No framework, no CDN: served by the Manager under
// Content-Security-Policy default-src 'self'. The token lives in sessionStorage only and
// travels in the Authorization header, also for the event stream (read with fetch, not
// EventSource, which cannot send headers).
'use strict';

const TOKEN_KEY = 'panguard.managerToken';
const SEVERITIES = ['critical', 'high', 'medium', 'low'];
const FEED_LIMIT = 200;
const REFRESH_MS = 30000;
// Three reads per refresh: at most one refresh per 4 s keeps a busy fleet's dashboard
// under the Manager's default limit of 60 requests per minute per address.
const MIN_REFRESH_GAP_MS = 4000;

const $ = (id) => document.getElementById(id);
const state = { token: null, lastEventId: null, stream: null, refreshTimer: null, pending: null, lastRefresh: 0 };

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

async function api(path) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (res.status === 401) throw Object.assign(new Error('Unauthorized'), { status: 401 });
  const body = await res.json();
  if (!body.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body.data;
}

function renderOverview(o) {
  $('count-total').textContent = o.totalAgents;
  $('count-online').textContent = o.onlineAgents;
  $('count-stale').textContent = o.staleAgents;
  $('count-offline').textContent = o.offlineAgents;
  $('active-policy').textContent = o.activePolicyVersion || 'none';
}

function renderAgents(agents) {
  const body = $('agents').querySelector('tbody');
  body.replaceChildren(
    ...agents.map((a) => {
      const row = el('tr');
      row.dataset.agentId = a.id;
      row.append(el('td', a.hostname));
      const status = el('td');
      status.append(el('span', a.status, `pill status-${a.status}`));
      row.append(status, el('td', a.os), el('td', a.ip), el('td', a.orgId), el('td', new Date(a.lastHeartbeat).toLocaleString()));
      return row;
    }),
  );
  $('agents-empty').hidden = agents.length > 0;
}

function renderSummary(s) {
  $('threat-total').textContent = s.total;
  $('threat-severity').replaceChildren(
    ...SEVERITIES.map((sev) => {
      const li = el('li');
      li.append(el('span', sev, `sev-${sev}`), el('span', s.bySeverity[sev]));
      return li;
    }),
  );
  const pairs = (list) => list.map(([k, v]) => { const li = el('li'); li.append(el('span', k), el('span', v)); return li; });
  $('threat-types').replaceChildren(...pairs(Object.entries(s.byType).slice(0, 5)));
  $('threat-ips').replaceChildren(...pairs(s.topSourceIps.slice(0, 5).map((x) => [x.ip, x.count])));
}

async function refresh() {
  state.lastRefresh = Date.now();
  try {
    const [overview, agents, summary] = await Promise.all([
      api('/api/overview'),
      api('/api/agents?limit=200'),
      api('/api/threats/summary?period=24h'),
    ]);
    renderOverview(overview);
    renderAgents(agents);
    renderSummary(summary);
  } catch (error) {
    if (error.status === 401) signOut('The token was refused.');
  }
}

/** Live events change the counts: refresh soon, once per burst and not more often than the gap. */
function scheduleRefresh() {
  if (state.pending) return;
  const wait = Math.max(300, state.lastRefresh + MIN_REFRESH_GAP_MS - Date.now());
  state.pending = setTimeout(() => {
    state.pending = null;
    refresh();
  }, wait);
}

function describe(event, data) {
  switch (event) {
    case 'agent_online': return `${data.hostname} online (${data.ip})`;
    case 'agent_offline': return `${data.hostname} offline, last seen ${data.lastSeen}`;
    case 'threats_reported': return `${data.hostname} reported ${data.count} event(s), max severity ${data.maxSeverity}`;
    case 'policy_created': return `policy ${data.version} created with ${data.ruleCount} rule(s)`;
    default: return data.message || JSON.stringify(data);
  }
}

function addToFeed(event, data) {
  const li = el('li');
  li.dataset.event = event;
  li.append(el('span', new Date().toLocaleTimeString() + ' '), el('span', event, 'event-name'), el('span', describe(event, data)));
  const feed = $('feed');
  feed.prepend(li);
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
}

function setStreamState(text) {
  $('stream-state').textContent = `stream: ${text}`;
}

function handleFrame(frame) {
  let event = 'message';
  let data = '';
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') state.lastEventId = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data += value;
  }
  if (!data) return;
  const parsed = JSON.parse(data);
  if (event === 'connected') {
    setStreamState('live');
    return;
  }
  addToFeed(event, parsed);
  scheduleRefresh();
}

async function openStream() {
  const controller = new AbortController();
  state.stream = controller;
  const headers = { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' };
  if (state.lastEventId) headers['Last-Event-ID'] = state.lastEventId;
  try {
    const res = await fetch('/api/events/stream', { headers, signal: controller.signal, cache: 'no-store' });
    if (res.status === 401) return signOut('The token was refused.');
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        handleFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  if (state.stream === controller && state.token) {
    setStreamState('reconnecting');
    setTimeout(() => state.stream === controller && openStream(), 2000);
  }
}

function start() {
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('session').hidden = false;
  setStreamState('connecting');
  refresh();
  openStream();
  state.refreshTimer = setInterval(() => Date.now() - state.lastRefresh >= REFRESH_MS / 2 && refresh(), REFRESH_MS);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  if (state.stream) state.stream.abort();
  state.stream = null;
  clearInterval(state.refreshTimer);
  $('dashboard').hidden = true;
  $('session').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
}

async function connect(event) {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  state.token = token;
  try {
    await api('/api/overview');
  } catch (error) {
    state.token = null;
    $('login-error').textContent = error.status === 401 ? 'That token was refused.' : `Could not reach the Manager: ${error.message}`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('login-error').textContent = '';
  start();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', connect);
  $('logout').addEventListener('click', () => signOut());
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    state.token = saved;
    start();
  }
});
