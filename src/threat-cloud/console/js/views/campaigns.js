// Campaigns: statistics, the list with a status filter and pages, and one campaign's detail
// with its timeline (GET /api/campaigns, /api/campaigns/stats, /api/campaigns/:id).
import { getJson } from '../api.js';
import { facts, h, lookupLink, num, pill, replace, table, when } from '../dom.js';

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;

function filters(status) {
  const select = h(
    'select',
    { id: 'campaigns-status', name: 'status' },
    ['', 'active', 'dormant', 'resolved'].map((value) => h('option', { value, selected: value === (status ?? '') }, value || 'All')),
  );
  const form = h(
    'form',
    { class: 'card inline-form', id: 'campaigns-form' },
    h('div', { class: 'field' }, h('label', { htmlFor: 'campaigns-status' }, 'Status'), select),
    h('button', { type: 'submit' }, 'Show'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = select.value ? `campaigns?status=${select.value}` : 'campaigns';
  });
  return form;
}

function pager(pagination, status) {
  const link = (page, text) => {
    const params = new URLSearchParams({ page: String(page) });
    if (status) params.set('status', status);
    return h('a', { href: `#campaigns?${params}` }, text);
  };
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Campaign pages' },
    pagination.page > 1 ? link(pagination.page - 1, '← Previous') : '',
    h('span', { id: 'campaigns-count' }, `Page ${num(pagination.page)} of ${num(Math.max(1, pagination.pages))} · ${num(pagination.total)} campaigns`),
    pagination.page < pagination.pages ? link(pagination.page + 1, 'Next →') : '',
  );
}

async function list(route) {
  const status = route.params.get('status') || undefined;
  const page = Number(route.params.get('page') ?? 1);
  const [stats, campaigns] = await Promise.all([getJson('/api/campaigns/stats'), getJson('/api/campaigns', { status, page, limit: PAGE_SIZE })]);
  const count = (label, value, id) => h('div', { class: 'card count', 'data-count': id }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
  replace(
    $('campaigns-result'),
    h(
      'div',
      { class: 'counts', id: 'campaigns-stats' },
      count('Campaigns', num(stats.totalCampaigns), 'totalCampaigns'),
      count('Active', num(stats.activeCampaigns), 'activeCampaigns'),
      count('Dormant', num(stats.dormantCampaigns), 'dormantCampaigns'),
      count('Resolved', num(stats.resolvedCampaigns), 'resolvedCampaigns'),
      count('Indicators per campaign', num(stats.avgIocsPerCampaign), 'avgIocsPerCampaign'),
    ),
    filters(status),
    h(
      'div',
      { class: 'card', id: 'campaigns-list' },
      table(
        'Campaigns, most recent activity first',
        [
          { label: 'Campaign', cell: (c) => h('a', { href: `#campaigns/${c.id}` }, c.name) },
          { label: 'Status', cell: (c) => pill(c.status, `status-${c.status}`) },
          { label: 'Severity', cell: (c) => pill(c.severity, `sev-${c.severity}`) },
          { label: 'Indicators', numeric: true, cell: (c) => num(c.iocCount) },
          { label: 'Reporters', numeric: true, cell: (c) => num(c.affectedOrgs) },
          { label: 'Last activity', cell: (c) => when(c.lastActivity) },
          { label: 'Tags', cell: (c) => c.tags.join(', ') },
        ],
        campaigns.items,
        { empty: 'No campaign yet: campaigns form when three or more related indicators are reported.' },
      ),
      pager(campaigns.pagination, status),
    ),
    stats.topMitreTechniques.length > 0
      ? h(
          'div',
          { class: 'card' },
          h('h3', {}, 'Techniques across campaigns'),
          table(
            'Top ATT&CK techniques across campaigns',
            [
              { label: 'Technique', cell: (t) => `${t.id} ${t.name ?? ''}` },
              { label: 'Campaigns', numeric: true, cell: (t) => num(t.campaigns) },
            ],
            stats.topMitreTechniques,
          ),
        )
      : '',
  );
}

async function detail(id) {
  const c = await getJson(`/api/campaigns/${encodeURIComponent(id)}`);
  const byType = Object.entries(c.iocs.byType);
  replace(
    $('campaigns-result'),
    h('p', {}, h('a', { href: '#campaigns' }, '← All campaigns')),
    h(
      'div',
      { class: 'card', id: 'campaign-detail', 'data-campaign': c.id },
      h('h3', { class: 'campaign-name' }, c.name),
      h('p', {}, c.description),
      facts([
        ['Status', pill(c.status, `status-${c.status}`)],
        ['Severity', pill(c.severity, `sev-${c.severity}`)],
        ['Indicators', h('span', { id: 'campaign-ioc-total' }, num(c.iocs.total))],
        ['Reporters', num(c.affectedOrgs)],
        ['First seen', when(c.firstSeen)],
        ['Last activity', when(c.lastActivity)],
        ['ATT&CK', c.mitreIds.join(', ') || '–'],
        ['Tags', c.tags.join(', ') || '–'],
        ['Source countries', c.geography.sourceCountries.join(', ') || '–'],
        ['Target countries', c.geography.targetCountries.join(', ') || '–'],
      ]),
    ),
    h(
      'div',
      { class: 'columns' },
      h(
        'div',
        { class: 'card' },
        h('h3', {}, 'Timeline'),
        h(
          'ol',
          { class: 'timeline', id: 'campaign-timeline' },
          c.timeline.map((entry) => h('li', {}, h('time', { dateTime: entry.date }, when(entry.date)), h('strong', {}, entry.event), h('span', { class: 'muted' }, entry.details))),
        ),
      ),
      h(
        'div',
        { class: 'card' },
        h('h3', {}, 'Indicators by type'),
        table('Indicators by type', [{ label: 'Type', cell: (r) => r[0] }, { label: 'Count', numeric: true, cell: (r) => num(r[1]) }], byType),
      ),
    ),
    h(
      'div',
      { class: 'columns' },
      h(
        'div',
        { class: 'card', id: 'campaign-ips' },
        h('h3', {}, 'Top IPs'),
        table(
          'Top IPs',
          [
            { label: 'IP', cell: (r) => lookupLink(r.value, 'ip') },
            { label: 'Reports', numeric: true, cell: (r) => num(r.sightings) },
            { label: 'Reputation', numeric: true, cell: (r) => num(r.reputation) },
          ],
          c.iocs.topIps,
          { empty: 'No IPs.' },
        ),
      ),
      h(
        'div',
        { class: 'card', id: 'campaign-domains' },
        h('h3', {}, 'Top domains'),
        table(
          'Top domains',
          [
            { label: 'Domain', cell: (r) => lookupLink(r.value, 'domain') },
            { label: 'Reports', numeric: true, cell: (r) => num(r.sightings) },
            { label: 'Reputation', numeric: true, cell: (r) => num(r.reputation) },
          ],
          c.iocs.topDomains,
          { empty: 'No domains.' },
        ),
      ),
    ),
    h('div', { class: 'card' }, h('h3', {}, 'Recommendations'), h('ul', { id: 'campaign-recommendations' }, c.recommendations.map((text) => h('li', {}, text)))),
  );
}

export async function show(route) {
  return route.part ? detail(route.part) : list(route);
}
