// Fleet: the counts of /api/overview and one page of /api/agents at a time ("N of M"),
// filtered on the Manager by status, org and tags. The API has no hostname search or sort
// parameter, so those two apply to the page shown (and say so).
import { $, link, number, pager, pill, rangeText, row, time } from './dom.js';

const STATUS_ORDER = { online: 0, stale: 1, offline: 2 };
const SORTERS = {
  hostname: (a, b) => a.hostname.localeCompare(b.hostname),
  status: (a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || a.hostname.localeCompare(b.hostname),
  lastHeartbeat: (a, b) => b.lastHeartbeat.localeCompare(a.lastHeartbeat),
  version: (a, b) => a.version.localeCompare(b.version, undefined, { numeric: true }),
};

export function fleetView({ api }) {
  const state = { page: 1, items: [], pagination: null };

  const filters = () => ({
    status: $('fleet-status').value,
    org_id: $('fleet-org').value.trim(),
    tag: $('fleet-tag').value.split(',').map((t) => t.trim()).filter(Boolean),
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
    const search = $('fleet-search').value.trim().toLowerCase();
    const sorter = SORTERS[$('fleet-sort').value];
    let shown = search ? state.items.filter((a) => a.hostname.toLowerCase().includes(search)) : state.items.slice();
    if (sorter) shown = shown.sort(sorter);
    $('agents').querySelector('tbody').replaceChildren(
      ...shown.map((a) => {
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
    );
    $('agents-empty').hidden = shown.length > 0;
    const range = rangeText(state.pagination, state.items.length);
    $('fleet-range').textContent = search ? `${range} (${shown.length} on this page match "${search}")` : range;
    pager($('fleet-prev'), $('fleet-next'), state.pagination);
  }

  async function refresh() {
    const [overview, agents] = await Promise.all([
      api.request('/api/overview'),
      api.request(`/api/agents${api.query(filters())}`),
    ]);
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
  for (const id of ['fleet-status', 'fleet-limit']) {
    $(id).addEventListener('change', () => {
      state.page = 1;
      refresh().catch(() => {});
    });
  }
  $('fleet-search').addEventListener('input', renderAgents);
  $('fleet-sort').addEventListener('change', renderAgents);
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

