// Fleet: the counts of /api/overview and one page of /api/agents at a time ("N of M").
// Hostname search (a prefix, ignoring case), status, org, tags and the order all run on the
// Manager, so the page and its total are the whole fleet's.
import { $, link, number, pager, pill, rangeText, replaceRows, row, time } from './dom.js';

/** How long typing may pause before the search is sent. */
const SEARCH_DELAY_MS = 300;

export function fleetView({ api }) {
  const state = { page: 1, items: [], pagination: null, asked: 0 };

  const filters = () => ({
    q: $('fleet-search').value.trim(),
    status: $('fleet-status').value,
    org_id: $('fleet-org').value.trim(),
    tag: $('fleet-tag').value.split(',').map((t) => t.trim()).filter(Boolean),
    sort: $('fleet-sort').value,
    order: $('fleet-order').value,
    limit: $('fleet-limit').value,
    page: state.page,
  });

  function renderCounts(o) {
    $('count-total').textContent = number(o.totalAgents);
    $('count-online').textContent = number(o.onlineAgents);
    $('count-stale').textContent = number(o.staleAgents);
    $('count-offline').textContent = number(o.offlineAgents);
    $('active-policy').textContent = o.activePolicyVersion || 'none';
  }

  function renderAgents() {
    replaceRows(
      $('agents').querySelector('tbody'),
      state.items.map((a) => {
        const tr = row([
          link(`#/agent/${encodeURIComponent(a.id)}`, a.hostname),
          pill(a.status, 'status'),
          a.os,
          a.version,
          a.ip,
          a.orgId,
          a.tags.length ? a.tags.join(', ') : '–',
          time(a.lastHeartbeat),
        ]);
        tr.dataset.agentId = a.id;
        return tr;
      }),
      'agent-id',
    );
    $('agents-empty').hidden = state.items.length > 0;
    $('fleet-range').textContent = rangeText(state.pagination, state.items.length);
    pager($('fleet-prev'), $('fleet-next'), state.pagination);
  }

  async function refresh() {
    // Typing sends a request per pause: only the newest one's answer is shown.
    const asked = ++state.asked;
    const [overview, agents] = await Promise.all([
      api.request('/api/overview'),
      api.request(`/api/agents${api.query(filters())}`),
    ]);
    if (asked !== state.asked) return;
    renderCounts(overview.data);
    // A filter change can leave the page beyond the end: go to the last one that exists.
    if (agents.data.length === 0 && agents.pagination.page > 1 && agents.pagination.pages > 0) {
      state.page = agents.pagination.pages;
      return refresh();
    }
    state.items = agents.data;
    state.pagination = agents.pagination;
    renderAgents();
  }

  $('fleet-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    state.page = 1;
    refresh().catch(() => {});
  });
  const reload = () => {
    state.page = 1;
    refresh().catch(() => {});
  };
  for (const id of ['fleet-status', 'fleet-sort', 'fleet-order', 'fleet-limit']) $(id).addEventListener('change', reload);
  let typing = null;
  $('fleet-search').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(reload, SEARCH_DELAY_MS);
  });
  $('fleet-prev').addEventListener('click', () => {
    state.page = Math.max(1, state.page - 1);
    refresh().catch(() => {});
  });
  $('fleet-next').addEventListener('click', () => {
    state.page += 1;
    refresh().catch(() => {});
  });
  // A click anywhere on a row opens the agent; keyboard users tab to the hostname link.
  $('agents').addEventListener('click', (event) => {
    const tr = event.target.closest('tr[data-agent-id]');
    if (tr && event.target.tagName !== 'A') location.hash = `#/agent/${encodeURIComponent(tr.dataset.agentId)}`;
  });

  return { show: refresh, refresh };
}

