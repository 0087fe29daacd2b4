import type { Clients } from '../clients.js';
import { check, expectStatus } from '../check.js';
import type { SmokeOptions } from '../options.js';
import { bearer, type Step } from './step.js';

/**
 * What a run leaves behind is removed where the credentials allow: the IoCs are revoked (an
 * admin-scope key; otherwise they stay, documentation values that block nobody), the agent
 * deregistered when the Manager token made it outside the user's org, and the account deleted
 * (which also removes the agents and events of its org).
 */
export function cleanUpSteps({ auth, manager, threatCloud }: Clients, options: SmokeOptions): Step[] {
  return [
    {
      name: 'revoke test IoCs',
      cleanUp: true,
      async run(state) {
        if (!state.iocsUploaded || options.tcKey === null) return { skipped: 'nothing was uploaded' };
        const headers = bearer(options.tcKey);
        const reason = `panguard smoke test ${state.names.runId}`;
        for (const [value, type] of [[state.names.iocIp, 'ip'], [state.names.iocDomain, 'domain']] as const) {
          const result = await threatCloud.PUT('/api/iocs/{value}/status', { params: { path: { value }, query: { type } }, headers, body: { status: 'revoked', reason } });
          if (result.response.status === 403) return { skipped: 'the Threat Cloud key has no admin scope, so the test IoCs stay (documentation values)' };
          const body = expectStatus(result, 200, `revocation of ${value}`);
          check(body.data.status === 'revoked', `expected ${value} revoked, got ${body.data.status}`);
        }
      },
    },
    {
      name: 'deregister agent',
      cleanUp: true,
      async run(state) {
        if (options.managerToken === null) return { skipped: "the agent goes with the account's org" };
        if (!state.agent) return { skipped: 'no agent was registered' };
        const result = await manager.DELETE('/api/agents/{id}', { params: { path: { id: state.agent.id } }, headers: bearer(options.managerToken) });
        if (result.response.status === 403) return { skipped: 'the Manager token may only register agents, so the test agent stays' };
        expectStatus(result, 200, 'agent deregistration');
      },
    },
    {
      name: 'delete test account',
      cleanUp: true,
      async run(state) {
        if (!state.session) return { skipped: 'no account to delete' };
        const result = await auth.DELETE('/api/auth/delete-account', { headers: bearer(state.session), body: { password: state.names.password } });
        // The first account of a fresh server is its admin, and the only admin stays.
        if (result.response.status === 403) return { skipped: `the server refused (${result.error?.error ?? 'forbidden'})` };
        expectStatus(result, 200, 'account deletion');
      },
    },
  ];
}
