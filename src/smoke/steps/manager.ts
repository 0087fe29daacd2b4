import type { Clients } from '../clients.js';
import { check, expectStatus } from '../check.js';
import type { SmokeOptions } from '../options.js';
import { need } from '../run-state.js';
import { bearer, type Step } from './step.js';

/** The fleet steps: an agent enrols, beats once and reports a brute force from the run's IP. */
export function managerSteps({ manager }: Clients, options: SmokeOptions): Step[] {
  return [
    {
      name: 'register agent',
      async run(state) {
        const token = options.managerToken ?? need(state.enrollToken, 'enrollment token');
        const { hostname } = state.names;
        const result = await manager.POST('/api/agents/register', { headers: bearer(token), body: { hostname, os: 'linux', version: 'smoke-test', tags: ['smoke-test'] } });
        const body = expectStatus(result, 201, 'agent registration');
        check(body.data.hostname === hostname, `expected host name ${hostname}, got ${body.data.hostname}`);
        check(body.data.status === 'online', `expected a new agent to be online, got ${body.data.status}`);
        check(body.data.agentToken.startsWith('pga_'), 'expected a pga_ agent token');
        if (options.managerToken === null) check(body.data.orgId === state.userId, `expected the agent in the user's org, got ${body.data.orgId}`);
        state.agent = { id: body.data.id, token: body.data.agentToken };
      },
    },
    {
      name: 'send heartbeat',
      async run(state) {
        const agent = need(state.agent, 'agent');
        const result = await manager.POST('/api/agents/{id}/heartbeat', {
          params: { path: { id: agent.id } },
          headers: bearer(agent.token),
          body: { uptime: 1, cpu: 1, memory: 1, version: 'smoke-test' },
        });
        const body = expectStatus(result, 200, 'heartbeat');
        check(body.data.id === agent.id && body.data.status === 'online', `expected ${agent.id} online, got ${body.data.id} ${body.data.status}`);
      },
    },
    {
      name: 'post threat events',
      async run(state) {
        const agent = need(state.agent, 'agent');
        const events = [{ type: 'brute_force', severity: 'critical' as const, confidence: 0.9, details: { sourceIp: state.names.iocIp, smokeTest: state.names.runId } }];
        const result = await manager.POST('/api/agents/{id}/events', { params: { path: { id: agent.id } }, headers: bearer(agent.token), body: { events } });
        const body = expectStatus(result, 201, 'event upload');
        check(body.data.received === 1 && body.data.eventIds.length === 1, `expected 1 event received, got ${body.data.received}`);
      },
    },
  ];
}
