// Agent detail: identity, the last heartbeat's metrics, the policy that applies to it
// against the one it reports having applied, and its recent threat events.
import { $, duration, el, facts, percent, pill, row, time } from './dom.js';

/** Drift between the applicable policy and what the agent last reported having applied. */
function policyFacts(agent) {
  const applies = agent.activePolicyVersion || 'none';
  // GET /api/agents/:id does not return the reported version yet (see the README); the
  // console shows drift as soon as the Manager adds `appliedPolicyVersion`.
  if (!('appliedPolicyVersion' in agent)) {
    return [
      ['Applies', applies],
      ['Reported by the agent', 'not returned by this Manager'],
      ['Drift', 'unknown'],
    ];
  }
  const reported = agent.appliedPolicyVersion || 'none';
  const inSync = reported === applies;
  const drift = el('span', inSync ? 'in sync' : `drift: the agent runs ${reported}, ${applies} applies`, inSync ? 'pill ok' : 'pill drift');
  return [
    ['Applies', applies],
    ['Reported by the agent', reported],
    ['Drift', drift],
  ];
}

export function agentView({ api }) {
  let agentId = null;

  async function refresh() {
    if (!agentId) return;
    const id = encodeURIComponent(agentId);
    const [detail, threats] = await Promise.all([
      api.request(`/api/agents/${id}`),
      api.request(`/api/threats${api.query({ agent_id: agentId, limit: 10 })}`),
    ]);
    const a = detail.data;
    $('agent-title').textContent = `Agent ${a.hostname}`;
    facts($('agent-identity'), [
      ['Hostname', a.hostname],
      ['Status', pill(a.status, 'status')],
      ['Id', a.id],
      ['OS', a.os],
      ['Version', a.version],
      ['IP', a.ip],
      ['Org', a.orgId],
      ['Tags', a.tags.length ? a.tags.join(', ') : 'none'],
      ['Registered', time(a.registeredAt)],
    ]);
    facts($('agent-metrics'), [
      ['Received', time(a.lastHeartbeat)],
      ['CPU', percent(a.cpu)],
      ['Memory', percent(a.memory)],
      ['Uptime', duration(a.uptime)],
    ]);
    facts($('agent-policy'), policyFacts(a));
    $('agent-recent-count').textContent = String(a.recentThreats);
    $('agent-threats').querySelector('tbody').replaceChildren(
      ...threats.data.map((t) => row([time(t.timestamp), pill(t.severity, 'sev'), t.type, t.confidence ?? '–', t.ruleId ?? '–'])),
    );
    $('agent-threats-empty').hidden = threats.data.length > 0;
    $('agent-threats-link').href = `#/threats/agent/${encodeURIComponent(a.id)}`;
  }

  return {
    async show([id]) {
      agentId = id || null;
      $('agent-title').textContent = 'Agent';
      await refresh();
      $('agent-title').tabIndex = -1;
      $('agent-title').focus();
    },
    refresh,
    hide() {
      agentId = null;
    },
  };
}
