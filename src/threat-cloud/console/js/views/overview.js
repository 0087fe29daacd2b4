// Overview: the store's counters (GET /api/stats) and the most malicious indicators.
import { getJson } from '../api.js';
import { h, lookupLink, num, replace, table, when } from '../dom.js';

const $ = (id) => document.getElementById(id);

function count(label, value, id) {
  return h('div', { class: 'card count', 'data-count': id }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
}

function breakdown(caption, record, noun) {
  const rows = Object.entries(record ?? {}).sort((a, b) => b[1] - a[1]);
  return table(caption, [{ label: noun, cell: (r) => r[0] }, { label: 'IoCs', numeric: true, cell: (r) => num(r[1]) }], rows);
}

export async function show() {
  const [stats, top] = await Promise.all([getJson('/api/stats'), getJson('/api/iocs', { limit: 10 })]);
  replace(
    $('overview-counts'),
    count('Indicators', num(stats.totalIocs), 'totalIocs'),
    count('Active', num(stats.activeIocs), 'activeIocs'),
    count('Reports and sightings', num(stats.totalSightings), 'totalSightings'),
    count('Sources', num(stats.totalSources), 'totalSources'),
    count('New in 24 h', num(stats.last24h.newIocs), 'newIocs'),
    count('Sightings in 24 h', num(stats.last24h.newSightings), 'newSightings'),
    count('Top category, 24 h', stats.last24h.topCategory ?? '–', 'topCategory'),
  );
  replace($('overview-types'), breakdown('Indicators by type', stats.byType, 'Type'));
  replace($('overview-categories'), breakdown('Indicators by category', stats.byCategory, 'Category'));
  replace(
    $('overview-top'),
    table(
      'Most malicious indicators',
      [
        { label: 'Indicator', cell: (i) => lookupLink(i.value, i.type) },
        { label: 'Type', cell: (i) => i.type },
        { label: 'Reputation', numeric: true, cell: (i) => num(i.reputation) },
        { label: 'Category', cell: (i) => i.category ?? '–' },
        { label: 'Sightings', numeric: true, cell: (i) => num(i.sightings) },
        { label: 'Last seen', cell: (i) => when(i.lastSeen) },
      ],
      top.items,
      { empty: 'No indicators reported yet.' },
    ),
    h('p', { class: 'muted' }, `${num(top.items.length)} of ${num(top.pagination.total)} indicators, lowest reputation first. Statistics updated ${when(stats.updatedAt)}.`),
  );
}
