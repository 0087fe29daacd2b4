import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { forbidden, unauthorized } from '../shared/errors.js';
import { ENROLL_TOKEN_PREFIX, type EnrollTokenVerifier } from '../shared/enroll-tokens.js';
import { bearerToken, safeEqual, sha256Hex } from '../shared/tokens.js';
import type { Registrant } from './services/enrollment.js';
import type { AgentStore } from './stores/agents.js';

/**
 * Who may register agents (a Registrant: the operator, the installer's MANAGER_ENROLL_TOKEN or
 * a user's own enrollment token), or one agent.
 */
export type Principal = Registrant | { kind: 'agent'; agentId: string };

const AGENT_TOKEN_PREFIX = 'pga_';
export const AGENT_TOKEN_FORBIDDEN = 'Agent token not allowed here';
export const ENROLL_TOKEN_FORBIDDEN = 'Enroll token may only register agents';

/** A preValidation hook in callback style: no promise and no extra microtask per request. */
type Guard = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/** A guard from a check that throws the refusal (401/403). */
const guard =
  (check: (request: FastifyRequest) => void): Guard =>
  (request, _reply, done) => {
    try {
      check(request);
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  };

/**
 * Who is calling: the operator (static token), an installer (enroll token), a user's
 * enrollment token (found by SHA-256, joined with its owner) or one agent (its own token,
 * found by SHA-256; the store remembers the agents' token hashes and forgets one the moment
 * its row is deleted or its token replaced, see stores/agents.ts). Resolved once per request —
 * the rate limiter's key generator at onRequest and the route guard at preValidation share
 * the answer.
 */
export function createAccess(deps: { agents: AgentStore; enrollTokens: EnrollTokenVerifier; authToken: string; enrollToken?: string | undefined }) {
  const resolved = new WeakMap<FastifyRequest, Principal | null>();
  const OPERATOR: Principal = { kind: 'operator' };
  const INSTALLER: Principal = { kind: 'installer' };

  const resolve = (token: string): Principal | null => {
    if (token.startsWith(AGENT_TOKEN_PREFIX)) {
      const agentId = deps.agents.idByTokenHash(sha256Hex(token));
      return agentId === undefined ? null : { kind: 'agent', agentId };
    }
    // No early null on a miss: a configured static token may happen to start with `pge_`.
    const enroll = token.startsWith(ENROLL_TOKEN_PREFIX) ? deps.enrollTokens.verify(token) : null;
    if (enroll) return { kind: 'owner', userId: enroll.ownerUserId, tokenId: enroll.id };
    if (safeEqual(token, deps.authToken)) return OPERATOR;
    if (deps.enrollToken !== undefined && safeEqual(token, deps.enrollToken)) return INSTALLER;
    return null;
  };

  const identify = (request: FastifyRequest): Principal | null => {
    const cached = resolved.get(request);
    if (cached !== undefined) return cached;
    const token = bearerToken(request.headers.authorization);
    const principal = token === null ? null : resolve(token);
    resolved.set(request, principal);
    return principal;
  };

  const authenticated = (request: FastifyRequest): Principal => {
    const principal = identify(request);
    if (!principal) throw unauthorized('Unauthorized');
    return principal;
  };

  const refuse = (principal: Principal) => {
    throw forbidden(principal.kind === 'agent' ? AGENT_TOKEN_FORBIDDEN : ENROLL_TOKEN_FORBIDDEN);
  };

  /** Fleet reads and writes: the operator token only. */
  const operator = guard((request) => {
    const principal = authenticated(request);
    if (principal.kind !== 'operator') refuse(principal);
  });
  /** Registration: the operator or an enrollment token of either kind. */
  const enroll = guard((request) => {
    const principal = authenticated(request);
    if (principal.kind === 'agent') refuse(principal);
  });
  /** An agent's own heartbeat, events and policy: that agent, or the operator. */
  const ownAgent = guard((request) => {
    const principal = authenticated(request);
    if (principal.kind === 'operator') return;
    const { id } = request.params as { id?: string };
    if (principal.kind !== 'agent' || principal.agentId !== id) refuse(principal);
  });

  return {
    identify,
    /** Who registers, for a request the `enroll` guard let through. */
    registrant(request: FastifyRequest): Registrant {
      const principal = authenticated(request);
      if (principal.kind === 'agent') return refuse(principal);
      return principal;
    },
    guards: { operator, enroll, ownAgent },
    /** Rate-limit key: the agent once its token is verified, else the client address. */
    rateLimitKey(request: FastifyRequest): string {
      const principal = identify(request);
      return principal?.kind === 'agent' ? `agent:${principal.agentId}` : `ip:${request.ip}`;
    },
  };
}

export type Access = ReturnType<typeof createAccess>;
export type Guards = Access['guards'];
