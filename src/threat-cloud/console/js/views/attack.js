// MITRE ATT&CK heatmap (GET /api/query/mitre-heatmap): one column per tactic in the matrix's
// order, the techniques seen under each, shaded by intensity relative to the busiest one.
import { getJson } from '../api.js';
import { h, num, replace, table } from '../dom.js';

const $ = (id) => document.getElementById(id);
const TACTICS = [
  'Reconnaissance',
  'Resource Development',
  'Initial Access',
  'Execution',
  'Persistence',
  'Privilege Escalation',
  'Defense Evasion',
  'Credential Access',
  'Discovery',
  'Lateral Movement',
  'Collection',
  'Command and Control',
  'Exfiltration',
  'Impact',
];
const UNMAPPED = 'Not in the bundled ATT&CK table';

export function init(context) {
  $('attack-form').addEventListener('submit', (event) => {
    event.preventDefault();
    context.navigate(`attack?period=${$('attack-period').value}`);
  });
}

function cell(technique) {
  const label = `${technique.id} ${technique.name ?? ''}: ${technique.count} indicators, intensity ${technique.intensity}`;
  return h(
    'li',
    { class: `technique heat-${technique.intensity}`, 'data-technique': technique.id, title: label },
    h('span', { class: 'technique-id' }, technique.id),
    h('span', { class: 'technique-name' }, technique.name ?? 'unknown technique'),
    h('span', { class: 'technique-count', 'aria-label': `${technique.count} indicators` }, num(technique.count)),
  );
}

export async function show(route) {
  if (route.params.get('period')) $('attack-period').value = route.params.get('period');
  const data = await getJson('/api/query/mitre-heatmap', { period: $('attack-period').value });
  const byTactic = new Map(TACTICS.map((tactic) => [tactic, []]));
  for (const technique of data.techniques) {
    const tactics = technique.tactics.length > 0 ? technique.tactics : [UNMAPPED];
    for (const tactic of tactics) {
      if (!byTactic.has(tactic)) byTactic.set(tactic, []);
      byTactic.get(tactic).push(technique);
    }
  }
  const columns = [...byTactic].map(([tactic, techniques]) =>
    h(
      'section',
      { class: `tactic${techniques.length === 0 ? ' empty' : ''}`, 'data-tactic': tactic, 'aria-label': `${tactic}: ${num(data.tactics[tactic] ?? 0)} indicators` },
      h('h3', {}, tactic, h('span', { class: 'tactic-count' }, num(data.tactics[tactic] ?? techniques.reduce((n, t) => n + t.count, 0)))),
      techniques.length === 0 ? h('p', { class: 'muted' }, 'none seen') : h('ul', { class: 'plain' }, techniques.sort((a, b) => b.count - a.count).map(cell)),
    ),
  );
  const top = [...data.techniques].sort((a, b) => b.count - a.count)[0];
  replace(
    $('attack-result'),
    h(
      'p',
      { class: 'card', id: 'attack-summary' },
      data.techniques.length === 0
        ? `No indicator carried an ATT&CK technique id over ${data.period}.`
        : `${num(data.techniques.length)} techniques seen over ${data.period}; most frequent: ${top.id} ${top.name ?? ''} (${num(top.count)} indicators).`,
    ),
    h(
      'div',
      { class: 'legend card', 'aria-hidden': 'true' },
      'Intensity relative to the top technique: ',
      ['critical', 'high', 'medium', 'low'].map((level) => h('span', { class: `swatch heat-${level}` }, level)),
    ),
    h('div', { class: 'heatmap', id: 'attack-heatmap' }, columns),
    h(
      'details',
      { class: 'card chart-data' },
      h('summary', {}, 'Show the techniques as a table'),
      table(
        'ATT&CK techniques by indicator count',
        [
          { label: 'Technique', cell: (t) => t.id },
          { label: 'Name', cell: (t) => t.name ?? '–' },
          { label: 'Tactics', cell: (t) => t.tactics.join(', ') || '–' },
          { label: 'Indicators', numeric: true, cell: (t) => num(t.count) },
          { label: 'Intensity', cell: (t) => t.intensity },
        ],
        data.techniques,
      ),
    ),
  );
}
