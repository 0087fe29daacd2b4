// Indicator lookup: reputation with its factors explained, sources, sightings, related
// indicators and campaigns (GET /api/iocs/:value, /api/sightings, /api/campaigns/:id).
import { getJson } from '../api.js';
import { facts, h, lookupLink, num, pill, replace, table, when } from '../dom.js';

const $ = (id) => document.getElementById(id);
const SIGHTINGS_SHOWN = 20;
const BLOCKLIST_THRESHOLD = 30;

export function init(context) {
  $('lookup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ value: $('lookup-value').value.trim() });
    if ($('lookup-type').value) params.set('type', $('lookup-type').value);
    context.navigate(`lookup?${params}`);
  });
}

function verdict(reputation, status) {
  if (status === 'whitelisted') return ['allow-listed', 'good'];
  if (status === 'unknown') return ['no data', 'neutral'];
  if (reputation <= BLOCKLIST_THRESHOLD) return ['malicious — on the default blocklists', 'bad'];
  if (reputation <= 60) return ['suspicious', 'warn'];
  return ['low risk', 'good'];
}

const fixed = (value, digits = 2) => Number(value).toFixed(digits);

/** The contract's formula, step by step, with this indicator's numbers. */
function explanation(ioc) {
  const f = ioc.reputationFactors;
  const confidence = 0.5 + 0.5 * f.conf;
  const decay = 0.5 ** (f.days / 30);
  const threat = f.sev * confidence * f.corroboration * decay;
  const rows = [
    { factor: 'Severity', input: ioc.severity, effect: `${num(f.sev)} points`, why: 'low 30, medium 55, high 80, critical 100' },
    { factor: 'Confidence', input: fixed(f.conf), effect: `× ${fixed(confidence)}`, why: '0.5 + 0.5 × confidence' },
    {
      factor: 'Corroboration',
      input: `${num(f.reports)} reports, ${num(f.reporters)} reporter${f.reporters === 1 ? '' : 's'}${f.trap ? ', seen by a honeypot' : ''}`,
      effect: `× ${fixed(f.corroboration)}`,
      why: f.reporters <= 1 ? 'one reporter alone is capped at 0.60: a second, independent reporter is needed for the blocklists' : '0.45 + 0.15 per extra report + 0.20 per extra reporter (+ 0.25 honeypot), at most 1',
    },
    { factor: 'Age', input: `${fixed(f.days, 1)} days since last seen`, effect: `× ${fixed(decay)}`, why: 'halves every 30 days' },
  ];
  return h(
    'div',
    { class: 'card', id: 'lookup-factors' },
    h('h3', {}, 'Why this score'),
    table(
      'Reputation factors',
      [
        { label: 'Factor', cell: (r) => r.factor },
        { label: 'This indicator', cell: (r) => r.input },
        { label: 'Effect', numeric: true, cell: (r) => r.effect },
        { label: 'Rule', cell: (r) => h('span', { class: 'muted' }, r.why) },
      ],
      rows,
    ),
    h(
      'p',
      { class: 'formula' },
      `Threat = ${num(f.sev)} × ${fixed(confidence)} × ${fixed(f.corroboration)} × ${fixed(decay)} = ${fixed(threat, 1)}; reputation = 100 − threat = `,
      h('strong', {}, num(ioc.reputation)),
      ioc.status === 'whitelisted' ? ' (allow-listed indicators always score 100)' : '',
    ),
  );
}

async function campaignNames(ids, context) {
  return Promise.all(
    ids.slice(0, 10).map((id) =>
      getJson(`/api/campaigns/${encodeURIComponent(id)}`).then(
        (campaign) => ({ id, name: campaign.name, status: campaign.status }),
        (error) => {
          if (error.status !== 404) context.report(error);
          return { id, name: id, status: '' };
        },
      ),
    ),
  );
}

export async function show(route, context) {
  const result = $('lookup-result');
  const value = route.params.get('value');
  const type = route.params.get('type') ?? '';
  $('lookup-value').value = value ?? '';
  $('lookup-type').value = type;
  if (!value) {
    replace(result, h('p', { class: 'muted' }, 'Enter an indicator to see its reputation, where it was reported and what it is related to.'));
    return;
  }
  const ioc = await getJson(`/api/iocs/${encodeURIComponent(value)}`, { type });
  const [label, tone] = verdict(ioc.reputation, ioc.status);
  const head = h(
    'div',
    { class: 'card lookup-head' },
    h('p', { class: 'mono big', id: 'lookup-indicator' }, ioc.value),
    h(
      'div',
      { class: 'score' },
      h('span', { class: `score-value tone-${tone}`, id: 'lookup-reputation' }, num(ioc.reputation)),
      h('span', { class: 'muted' }, ' / 100 reputation — '),
      h('strong', {}, label),
    ),
    h('meter', { min: 0, max: 100, low: 31, high: 61, optimum: 100, value: ioc.reputation, 'aria-label': `Reputation ${ioc.reputation} of 100` }),
    h('p', { class: 'muted' }, '0 is the most malicious, 100 benign.'),
  );
  if (ioc.status === 'unknown') {
    replace(result, head, h('p', { class: 'card', id: 'lookup-unknown' }, `${ioc.message}. Unknown ${ioc.type} indicators score ${ioc.reputation}.`));
    return;
  }
  const [sightings, campaigns] = await Promise.all([
    getJson('/api/sightings', { value: ioc.value, limit: SIGHTINGS_SHOWN }),
    campaignNames(ioc.campaigns ?? [], context),
  ]);
  const metadata = ioc.metadata ?? {};
  replace(
    result,
    head,
    h(
      'div',
      { class: 'columns' },
      h(
        'div',
        { class: 'card' },
        h('h3', {}, 'Details'),
        facts([
          ['Type', ioc.type],
          ['Status', pill(ioc.status, `status-${ioc.status}`)],
          ['Category', ioc.category ?? '–'],
          ['Severity', pill(ioc.severity, `sev-${ioc.severity}`)],
          ['Confidence', fixed(ioc.confidence)],
          ['Reports', h('span', { id: 'lookup-sightings' }, num(ioc.sightings))],
          ['First seen', when(ioc.firstSeen)],
          ['Last seen', when(ioc.lastSeen)],
          ['Country', metadata.country ?? '–'],
          ['ATT&CK', (metadata.mitreIds ?? []).join(', ') || '–'],
        ]),
      ),
      h('div', { class: 'card' }, h('h3', {}, 'Sources'), h('ul', { class: 'plain', id: 'lookup-sources' }, (ioc.sources ?? []).map((source) => h('li', {}, source)))),
    ),
    explanation(ioc),
    h(
      'div',
      { class: 'card', id: 'lookup-sighting-list' },
      h('h3', {}, 'Sightings'),
      table(
        'Sightings, newest first',
        [
          { label: 'When', cell: (s) => when(s.timestamp) },
          { label: 'Source', cell: (s) => s.source },
          { label: 'Context', cell: (s) => (s.context ? h('code', {}, JSON.stringify(s.context)) : '–') },
        ],
        sightings.items,
        { empty: 'No sightings recorded.' },
      ),
      h('p', { class: 'muted' }, `${num(sightings.items.length)} of ${num(sightings.pagination.total)} sightings shown.`),
    ),
    h(
      'div',
      { class: 'columns' },
      h(
        'div',
        { class: 'card', id: 'lookup-related' },
        h('h3', {}, 'Related indicators'),
        table(
          'Related indicators',
          [
            { label: 'Indicator', cell: (r) => lookupLink(r.value, r.type) },
            { label: 'Type', cell: (r) => r.type },
            { label: 'Relation', cell: (r) => r.relation },
          ],
          ioc.relatedIocs ?? [],
          { empty: 'None known.' },
        ),
      ),
      h(
        'div',
        { class: 'card', id: 'lookup-campaigns' },
        h('h3', {}, 'Campaigns'),
        campaigns.length === 0
          ? h('p', { class: 'muted' }, 'Not part of a known campaign.')
          : h('ul', { class: 'plain' }, campaigns.map((c) => h('li', {}, h('a', { href: `#campaigns/${c.id}` }, c.name), ' ', c.status ? pill(c.status, `status-${c.status}`) : ''))),
      ),
    ),
  );
}
