// Trends: report rates by category against the previous period, and emerging indicators
// (GET /api/query/trends).
import { getJson } from '../api.js';
import { barChart } from '../charts.js';
import { h, lookupLink, num, pill, replace, table, when } from '../dom.js';

const $ = (id) => document.getElementById(id);

export function init(context) {
  $('trends-form').addEventListener('submit', (event) => {
    event.preventDefault();
    context.navigate(`trends?periodDays=${$('trends-days').value}&minChange=${$('trends-min').value}`);
  });
}

const signed = (value) => `${value > 0 ? '+' : ''}${value.toFixed(1)} %`;

export async function show(route) {
  if (route.params.get('periodDays')) $('trends-days').value = route.params.get('periodDays');
  if (route.params.get('minChange')) $('trends-min').value = route.params.get('minChange');
  const data = await getJson('/api/query/trends', { periodDays: $('trends-days').value, minChange: $('trends-min').value });
  const days = data.periodDays;
  const trendTable = table(
    'Category trends',
    [
      { label: 'Category', cell: (t) => t.category },
      { label: 'Direction', cell: (t) => pill(`${t.direction === 'increasing' ? '▲' : '▼'} ${t.direction}`, `dir-${t.direction}`) },
      { label: 'Change', numeric: true, cell: (t) => signed(t.changePercent) },
      { label: `Last ${days} d`, numeric: true, cell: (t) => num(t.currentRate) },
      { label: `${days} d before`, numeric: true, cell: (t) => num(t.previousRate) },
      { label: 'What it means', cell: (t) => t.description },
    ],
    data.trends,
    { empty: 'No category changed by at least the minimum over this period.' },
  );
  const rising = data.trends.filter((t) => t.direction === 'increasing');
  const summary =
    data.trends.length === 0
      ? `No category changed notably over the last ${days} days.`
      : `${num(rising.length)} categories rising, ${num(data.trends.length - rising.length)} falling over the last ${days} days compared with the ${days} days before. ` +
        data.trends.map((t) => `${t.category}: ${num(t.currentRate)} now, ${num(t.previousRate)} before (${signed(t.changePercent)})`).join('; ') + '. The table below has every number.';
  replace(
    $('trends-result'),
    data.trends.length > 0
      ? barChart({
          id: 'trends-figure',
          caption: `Reports by category: last ${days} days against the ${days} days before`,
          summary,
          xLabel: 'Category',
          labels: data.trends.map((t) => t.category),
          names: data.trends.map((t) => `${t.category} (${signed(t.changePercent)})`),
          series: [
            { label: `${days} days before`, values: data.trends.map((t) => t.previousRate) },
            { label: `Last ${days} days`, values: data.trends.map((t) => t.currentRate) },
          ],
          dataTable: null,
        })
      : h('p', { class: 'card muted' }, summary),
    h('div', { class: 'card', id: 'trends-table' }, h('h3', {}, 'Categories'), trendTable),
    h(
      'div',
      { class: 'card', id: 'trends-emerging' },
      h('h3', {}, 'Emerging threats'),
      table(
        'Emerging threats: first seen in the period, by reports in the last 24 hours',
        [
          { label: 'Indicator', cell: (e) => lookupLink(e.indicator, e.type) },
          { label: 'Type', cell: (e) => e.type },
          { label: 'First seen', cell: (e) => when(e.firstSeen) },
          { label: 'Reports, 24 h', numeric: true, cell: (e) => num(e.sightingsLast24h) },
          { label: 'Velocity', cell: (e) => pill(e.velocity, `velocity-${e.velocity}`) },
        ],
        data.emergingThreats,
        { empty: 'Nothing new in this period.' },
      ),
    ),
  );
}
