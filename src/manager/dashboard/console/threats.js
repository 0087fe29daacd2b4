// Threats: the 24 h summary, a chart of those events by hour and severity (the Manager's
// time series: every hour, the same events as the summary), and the filterable, paginated
// list of events with each one's details.
import { severityChart, SEVERITIES } from './charts.js';
import { $, el, link, number, pager, pill, RANGE_MS, rangeText, replaceRows, row, time } from './dom.js';

/** The chart's series is read at most once a minute (the summary and list on every refresh). */
const CHART_TTL_MS = 60000;

export function threatsView({ api }) {
  const state = { page: 1, items: [], pagination: null, chart: null, chartAt: 0 };

  const filters = () => {
    const range = $('threat-range').value;
    return {
      severity: $('threat-severity-filter').value,
      type: $('threat-type').value.trim(),
      agent_id: $('threat-agent').value.trim(),
      since: range ? new Date(Date.now() - RANGE_MS[range]).toISOString() : '',
      page: state.page,
      limit: 25,
    };
  };

  function renderSummary(s) {
    $('threat-total').textContent = number(s.total);
    $('threat-severity').replaceChildren(
      ...SEVERITIES.map((sev) => {
        const li = el('li');
        li.dataset.severity = sev;
        li.append(pill(sev, 'sev'), el('span', number(s.bySeverity[sev])));
        return li;
      }),
    );
    const pairs = (list) =>
      list.map(([key, value]) => {
        const li = el('li');
        li.append(key instanceof Node ? key : el('span', key), el('span', number(value)));
        return li;
      });
    const types = Object.entries(s.byType).sort((a, b) => b[1] - a[1]).slice(0, 5);
    $('threat-types').replaceChildren(...pairs(types));
    $('threat-agents').replaceChildren(...pairs(s.topAgents.slice(0, 5).map((a) => [link(`#/agent/${encodeURIComponent(a.agentId)}`, a.hostname), a.count])));
    $('threat-ips').replaceChildren(...pairs(s.topSourceIps.slice(0, 5).map((x) => [x.ip, x.count])));
  }

  async function loadChart() {
    const { data } = await api.request('/api/threats/timeseries?period=24h');
    const xs = data.series.map((point) => Date.parse(point.timestamp) / 1000);
    const counts = Object.fromEntries(SEVERITIES.map((s) => [s, data.series.map((point) => point[s])]));
    const total = data.series.reduce((sum, point) => sum + point.total, 0);
    const peak = data.series.reduce((best, point, i) => (point.total > best.sum ? { i, sum: point.total } : best), { i: -1, sum: 0 });
    const hour = (x) => new Date(x * 1000).toISOString().slice(11, 16);
    const summary =
      `Chart of threat events per hour over the last 24 h, one line per severity: ${total} events` +
      (peak.i >= 0 ? `, busiest hour ${hour(xs[peak.i])} UTC with ${peak.sum}` : '') +
      '. The same numbers are in the table that follows.';
    if (state.chart) state.chart.destroy();
    state.chart = severityChart($('threat-chart'), [xs, ...SEVERITIES.map((s) => counts[s])], summary);
    $('threat-chart-note').textContent = `${number(total)} events; hover for the numbers of each hour (UTC).`;
    $('threat-chart-table').querySelector('tbody').replaceChildren(
      ...xs.map((x, i) => row([`${hour(x)}`, ...SEVERITIES.map((s) => String(counts[s][i]))])),
    );
    state.chartAt = Date.now();
  }

  let opener = null;

  function showDetail(t, button) {
    opener = button;
    const section = $('threat-detail');
    $('threat-detail-title').textContent = `Event ${t.id}`;
    const dl = $('threat-detail-facts');
    dl.replaceChildren();
    for (const [term, value] of [
      ['Time', time(t.timestamp)],
      ['Received', time(t.receivedAt)],
      ['Severity', t.severity],
      ['Type', t.type],
      ['Agent', `${t.hostname} (${t.agentId})`],
      ['Confidence', t.confidence ?? '–'],
      ['Rule', t.ruleId ?? '–'],
    ]) dl.append(el('dt', term), el('dd', value));
    $('threat-detail-json').textContent = JSON.stringify(t.details, null, 2);
    section.hidden = false;
    section.focus();
  }

  function renderList() {
    replaceRows(
      $('threats').querySelector('tbody'),
      state.items.map((t) => {
        const open = el('button', 'View', 'secondary small');
        open.type = 'button';
        open.setAttribute('aria-label', `View event ${t.type} from ${t.hostname} at ${time(t.timestamp)}`);
        open.addEventListener('click', () => showDetail(t, open));
        const tr = row([time(t.timestamp), pill(t.severity, 'sev'), t.type, link(`#/agent/${encodeURIComponent(t.agentId)}`, t.hostname), t.confidence ?? '–', open]);
        tr.dataset.eventId = t.id;
        return tr;
      }),
      'event-id',
    );
    $('threats-empty').hidden = state.items.length > 0;
    $('threats-range').textContent = rangeText(state.pagination, state.items.length);
    pager($('threats-prev'), $('threats-next'), state.pagination);
  }

  async function refresh() {
    const [summary, list] = await Promise.all([
      api.request('/api/threats/summary?period=24h'),
      api.request(`/api/threats${api.query(filters())}`),
    ]);
    renderSummary(summary.data);
    state.items = list.data;
    state.pagination = list.pagination;
    renderList();
    if (Date.now() - state.chartAt >= CHART_TTL_MS) await loadChart();
  }

  const reload = () => {
    state.page = 1;
    refresh().catch(() => {});
  };
  $('threat-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    reload();
  });
  $('threat-severity-filter').addEventListener('change', reload);
  $('threat-range').addEventListener('change', reload);
  $('threats-prev').addEventListener('click', () => {
    state.page = Math.max(1, state.page - 1);
    refresh().catch(() => {});
  });
  $('threats-next').addEventListener('click', () => {
    state.page += 1;
    refresh().catch(() => {});
  });
  $('threat-detail-close').addEventListener('click', () => {
    $('threat-detail').hidden = true;
    if (opener && opener.isConnected) opener.focus();
  });

  return {
    async show([filter, value]) {
      if (filter === 'agent' && value) $('threat-agent').value = value;
      state.page = 1;
      state.chartAt = 0;
      await refresh();
    },
    refresh,
    hide() {
      if (state.chart) state.chart.destroy();
      state.chart = null;
      $('threat-detail').hidden = true;
    },
  };
}
