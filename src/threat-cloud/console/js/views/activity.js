// Activity: new IoCs and reports per hour, day or ISO week (GET /api/query/timeseries).
import { getJson } from '../api.js';
import { timeChart } from '../charts.js';
import { h, num, replace } from '../dom.js';

const $ = (id) => document.getElementById(id);
const FIELDS = ['granularity', 'period', 'type', 'category'];

export function init(context) {
  $('activity-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const field of FIELDS) if ($(`activity-${field}`).value) params.set(field, $(`activity-${field}`).value);
    context.navigate(`activity?${params}`);
  });
}

export async function show(route) {
  const query = {};
  for (const field of FIELDS) {
    const value = route.params.get(field);
    if (value) $(`activity-${field}`).value = value;
    query[field] = $(`activity-${field}`).value;
  }
  const data = await getJson('/api/query/timeseries', query);
  const totalNew = data.series.reduce((n, b) => n + b.newIocs, 0);
  const totalSightings = data.series.reduce((n, b) => n + b.sightings, 0);
  const peak = data.series.reduce((best, b) => (b.sightings > (best?.sightings ?? -1) ? b : best), null);
  const summary =
    `${num(totalNew)} new indicators and ${num(totalSightings)} reports over ${data.period} in ${num(data.series.length)} ${data.granularity} buckets` +
    (peak && peak.sightings > 0 ? `; busiest ${data.granularity} began ${peak.timestamp.slice(0, 16).replace('T', ' ')} UTC with ${num(peak.sightings)} reports.` : '.');
  replace(
    $('activity-result'),
    h(
      'div',
      { class: 'counts' },
      h('div', { class: 'card count' }, h('span', { class: 'label' }, 'New indicators'), h('span', { class: 'value', id: 'activity-new' }, num(totalNew))),
      h('div', { class: 'card count' }, h('span', { class: 'label' }, 'Reports and sightings'), h('span', { class: 'value', id: 'activity-sightings' }, num(totalSightings))),
    ),
    timeChart({
      id: 'activity-figure',
      caption: `New indicators and reports per ${data.granularity} (UTC), last ${data.period}`,
      summary,
      points: data.series,
      granularity: data.granularity,
      bucketLabel: `${data.granularity[0].toUpperCase()}${data.granularity.slice(1)} starting`,
      series: [
        { key: 'newIocs', label: 'New indicators' },
        { key: 'sightings', label: 'Reports and sightings' },
      ],
    }),
  );
}
