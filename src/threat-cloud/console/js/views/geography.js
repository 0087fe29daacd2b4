// Geography: where indicators come from (GET /api/query/geo) as bars and a table.
import { getJson } from '../api.js';
import { barChart } from '../charts.js';
import { h, num, pct, replace, table } from '../dom.js';

const $ = (id) => document.getElementById(id);

export function init(context) {
  $('geography-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ period: $('geography-period').value });
    if ($('geography-type').value) params.set('type', $('geography-type').value);
    context.navigate(`geography?${params}`);
  });
}

export async function show(route) {
  if (route.params.get('period')) $('geography-period').value = route.params.get('period');
  $('geography-type').value = route.params.get('type') ?? '';
  const data = await getJson('/api/query/geo', { period: $('geography-period').value, type: $('geography-type').value, limit: 15 });
  const countries = data.countries;
  const dataTable = table(
    'Indicators by country',
    [
      { label: 'Country', cell: (c) => `${c.name} (${c.code})` },
      { label: 'Indicators', numeric: true, cell: (c) => num(c.count) },
      { label: 'Share', numeric: true, cell: (c) => pct(c.percentage) },
    ],
    countries,
    { empty: 'No indicator with a known country in this period.' },
  );
  const lead = countries[0];
  const summary = lead
    ? `${num(data.total)} indicators with a known country over ${data.period}; ${lead.name} leads with ${num(lead.count)} (${pct(lead.percentage)}), ` +
      `then ${countries.slice(1, 4).map((c) => `${c.name} ${num(c.count)}`).join(', ') || 'no other country'}. The table below lists them all.`
    : `No indicator with a known country over ${data.period}.`;
  replace(
    $('geography-result'),
    h('p', { class: 'card', id: 'geography-total' }, `${num(data.total)} indicators with a known country, top ${num(countries.length)} shown.`),
    barChart({
      id: 'geography-figure',
      caption: `Top source countries, last ${data.period}`,
      summary,
      xLabel: 'Country',
      labels: countries.map((c) => c.code),
      names: countries.map((c) => c.name),
      series: [{ label: 'Indicators', values: countries.map((c) => c.count), format: (v, i) => `${num(v)} (${pct(countries[i].percentage)})` }],
      dataTable: null,
    }),
    h('div', { class: 'card', id: 'geography-table' }, dataTable),
  );
}
