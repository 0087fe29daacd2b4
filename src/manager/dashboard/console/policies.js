// Policies: the active global policy and the one an org gets, per-agent overrides, the
// history, and a form that creates a policy from JSON, showing the API's validation message
// (which names the field) next to the input.
import { $, el, link, number, pager, rangeText, row, time } from './dom.js';

const TEMPLATE = {
  name: 'Baseline',
  description: 'Block brute-force sources fleet-wide',
  rules: [{ type: 'block_ip', config: { trigger: 'brute_force', threshold: 5, duration: '24h', scope: 'fleet' } }],
};
const OVERRIDE_CHECKS = 10;

const scope = (p) => (p.agentId ? `agent ${p.agentId}` : p.orgId ? `org ${p.orgId}` : 'global');

function policySummary(policy, emptyText) {
  const box = el('div', null, 'policy-summary');
  if (!policy) {
    box.append(el('p', emptyText, 'muted'));
    return box;
  }
  const title = el('p');
  title.append(el('strong', policy.version, 'policy-version'), ` ${policy.name} (${scope(policy)}), ${policy.rules.length} rule(s), created ${time(policy.createdAt)}`);
  const rules = el('ul', null, 'plain rules');
  rules.append(...policy.rules.map((r) => el('li', `${r.type}${r.enabled ? '' : ' (disabled)'}: ${JSON.stringify(r.config)}`)));
  box.append(title, rules);
  return box;
}

export function policiesView({ api }) {
  const state = { page: 1, pagination: null };

  async function loadOverrides() {
    const newest = await api.request('/api/policy/history?limit=200');
    const overrides = newest.data.filter((p) => p.agentId);
    // History keeps removed overrides too: ask, for the newest few, whether each is still
    // the one its agent gets.
    const checks = await Promise.all(
      overrides.slice(0, OVERRIDE_CHECKS).map((p) =>
        api.request(`/api/policy/agent/${encodeURIComponent(p.agentId)}`).then(
          (res) => (res.data.policyVersion === p.version ? 'yes' : 'no (removed or replaced)'),
          () => 'unknown',
        ),
      ),
    );
    $('policy-overrides').querySelector('tbody').replaceChildren(
      ...overrides.map((p, i) => row([p.version, link(`#/agent/${encodeURIComponent(p.agentId)}`, p.agentId), String(p.rules.length), time(p.createdAt), checks[i] ?? 'not checked'])),
    );
    $('policy-overrides-empty').hidden = overrides.length > 0;
  }

  async function refresh() {
    const [active, history] = await Promise.all([
      api.request('/api/policy/active'),
      api.request(`/api/policy/history${api.query({ page: state.page, limit: 20 })}`),
    ]);
    $('policy-global').replaceChildren(policySummary(active.data, 'No global policy yet.'));
    state.pagination = history.pagination;
    $('policy-history').querySelector('tbody').replaceChildren(
      ...history.data.map((p) => row([p.version, p.name, scope(p), String(p.rules.length), number(p.broadcastedTo), time(p.createdAt)])),
    );
    $('history-range').textContent = rangeText(history.pagination, history.data.length);
    pager($('history-prev'), $('history-next'), history.pagination);
    await loadOverrides();
  }

  $('policy-org-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const org = $('policy-org').value.trim();
    if (!org) return;
    try {
      const res = await api.request(`/api/policy/active${api.query({ org_id: org })}`);
      $('policy-org-result').replaceChildren(policySummary(res.data, `No policy applies to org ${org}.`));
    } catch {
      /* shown in the banner */
    }
  });

  $('policy-create').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('policy-json');
    const error = $('policy-json-error');
    error.textContent = '';
    $('policy-created').textContent = '';
    input.removeAttribute('aria-invalid');
    let body;
    try {
      body = JSON.parse(input.value);
    } catch (parseError) {
      error.textContent = `Not valid JSON: ${parseError.message}`;
      input.setAttribute('aria-invalid', 'true');
      return;
    }
    try {
      const res = await api.request('/api/policy', { method: 'POST', body, quiet: true });
      $('policy-created').textContent = `Created ${res.data.version} (${res.data.name}), announced to ${res.data.broadcastedTo} online agent(s).`;
      state.page = 1;
      await refresh();
    } catch (failure) {
      if (failure.kind === 'client') {
        error.textContent = failure.message;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      } else {
        error.textContent = `Not created: ${failure.message}`;
        api.report(failure);
      }
    }
  });

  $('history-prev').addEventListener('click', () => {
    state.page = Math.max(1, state.page - 1);
    refresh().catch(() => {});
  });
  $('history-next').addEventListener('click', () => {
    state.page += 1;
    refresh().catch(() => {});
  });

  if (!$('policy-json').value) $('policy-json').value = JSON.stringify(TEMPLATE, null, 2);

  return { show: refresh, refresh };
}
