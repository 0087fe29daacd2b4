import type { Clients } from '../clients.js';
import { check, expectStatus } from '../check.js';
import type { SmokeOptions } from '../options.js';
import { need } from '../run-state.js';
import { bearer, type Step } from './step.js';

/** The account steps: a new user registers, logs in and (unless a Manager token is given) makes an enrollment token. */
export function authSteps({ auth }: Clients, options: SmokeOptions): Step[] {
  const steps: Step[] = [
    {
      name: 'register user',
      async run(state) {
        const { email, password, runId } = state.names;
        const body = expectStatus(await auth.POST('/api/auth/register', { body: { email, name: runId, password } }), 201, 'registration of a new e-mail');
        check('user' in body.data, 'expected the new account and its token in the answer');
        check(body.data.user.email === email, `expected the account's e-mail ${email}, got ${body.data.user.email}`);
        check(body.data.user.id.startsWith('usr_'), `expected a usr_ id, got ${body.data.user.id}`);
        state.userId = body.data.user.id;
        state.session = body.data.token;
      },
    },
    {
      name: 'log in',
      async run(state) {
        const { email, password } = state.names;
        const body = expectStatus(await auth.POST('/api/auth/login', { body: { email, password } }), 200, 'login');
        check(body.ok, `expected a session, got "${body.ok ? '' : body.error}"`);
        check(body.data.user.id === need(state.userId, 'user id'), 'expected the registered account to log in');
        check(body.data.token.length > 0 && Date.parse(body.data.expiresAt) > Date.now(), 'expected a token that has not expired');
        state.session = body.data.token;
      },
    },
  ];
  if (options.managerToken === null) {
    steps.push({
      name: 'create enrollment token',
      async run(state) {
        const headers = bearer(need(state.session, 'session'));
        const body = expectStatus(await auth.POST('/api/auth/enroll-tokens', { headers, body: { name: state.names.runId, expiresInDays: 1 } }), 201, 'enrollment token creation');
        check(body.data.orgId === state.userId, `expected a token for the user's own org, got ${body.data.orgId}`);
        check(body.data.token.startsWith('pge_'), 'expected a pge_ token');
        state.enrollToken = body.data.token;
      },
    });
  }
  return steps;
}
