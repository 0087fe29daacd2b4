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

/** A principal, or the promise of one while a user's enrollment token is looked up in the database. */
type Resolution = Principal | null | Promise<Principal | null>;

/**
 * Who is calling: the operator (static token), an installer (enroll token), a user's
 * enrollment token (found by SHA-256, joined with its owner) or one agent (its own token,
 * found by SHA-256; the store remembers the agents' token hashes and forgets one the moment
 * its row is deleted or its token replaced, see stores/agents.ts). Resolved once per request —
 * the rate limiter's key generator at onRequest and the route guard at preValidation share
 * the answer. Only a user's enrollment token waits for the database; the other tokens, and
 * with them every heartbeat, are answered without a promise.
 */
export function createAccess(deps: { agents: AgentStore; enrollTokens: EnrollTokenVerifier; authToken: string; enrollToken?: string | undefined }) {
  const resolved = new WeakMap<FastifyRequest, Principal | null>();
  const OPERATOR: Principal = { kind: 'operator' };
  const INSTALLER: Principal = { kind: 'installer' };

  const agentPrincipal = (agentId: string | undefined): Principal | null => (agentId === undefined ? null : { kind: 'agent', agentId });

  const staticPrincipal = (token: string): Principal | null => {
    if (safeEqual(token, deps.authToken)) return OPERATOR;
    if (deps.enrollToken !== undefined && safeEqual(token, deps.enrollToken)) return INSTALLER;
    return null;
  };

  const resolve = (token: string): Resolution => {
    if (token.startsWith(AGENT_TOKEN_PREFIX)) {
      const agentId = deps.agents.idByTokenHash(sha256Hex(token));
      return agentId instanceof Promise ? agentId.then(agentPrincipal) : agentPrincipal(agentId);
    }
    // No early null on a miss: a configured static token may happen to start with `pge_`.
    if (!token.startsWith(ENROLL_TOKEN_PREFIX)) return staticPrincipal(token);
    return deps.enrollTokens
      .verify(token)
      .then((enroll): Principal | null => (enroll ? { kind: 'owner', userId: enroll.ownerUserId, tokenId: enroll.id } : staticPrincipal(token)));
  };

  const identify = (request: FastifyRequest, token = bearerToken(request.headers.authorization)): Resolution => {
    const cached = resolved.get(request);
    if (cached !== undefined) return cached;
    const principal = token === null ? null : resolve(token);
    if (!(principal instanceof Promise)) {
      resolved.set(request, principal);
      return principal;
    }
    return principal.then((answer) => {
      resolved.set(request, answer);
      return answer;
    });
  };

  const authenticated = (principal: Principal | null): Principal => {
    if (!principal) throw unauthorized('Unauthorized');
    return principal;
  };

  const refuse = (principal: Principal) => {
    throw forbidden(principal.kind === 'agent' ? AGENT_TOKEN_FORBIDDEN : ENROLL_TOKEN_FORBIDDEN);
  };

  /** A guard from a check that throws the refusal (401/403). */
  const guard =
    (check: (request: FastifyRequest, principal: Principal) => void): Guard =>
    (request, _reply, done) => {
      const decide = (principal: Principal | null) => {
        try {
          check(request, authenticated(principal));
        } catch (error) {
          done(error as Error);
          return;
        }
        done();
      };
      const principal = identify(request);
      if (principal instanceof Promise) principal.then(decide, done);
      else decide(principal);
    };

  /** Fleet reads and writes: the operator token only. */
  const operator = guard((_request, principal) => {
    if (principal.kind !== 'operator') refuse(principal);
  });
  /** Registration: the operator or an enrollment token of either kind. */
  const enroll = guard((_request, principal) => {
    if (principal.kind === 'agent') refuse(principal);
  });
  /** An agent's own heartbeat, events and policy: that agent, or the operator. */
  const ownAgent = guard((request, principal) => {
    if (principal.kind === 'operator') return;
    const { id } = request.params as { id?: string };
    if (principal.kind !== 'agent' || principal.agentId !== id) refuse(principal);
  });

  return {
    /** Who registers, for a request the `enroll` guard let through (which resolved its principal). */
    registrant(request: FastifyRequest): Registrant {
      const principal = authenticated(resolved.get(request) ?? null);
      if (principal.kind === 'agent') return refuse(principal);
      return principal;
    },
    guards: { operator, enroll, ownAgent },
    /**
     * Rate-limit key: the agent once its token is verified, else the client address. Only an
     * agent's token gives a key of its own, so no other token is looked up here (a user's
     * enrollment token is looked up once, by the guard). On SQLite the agent is known at once;
     * on PostgreSQL its lookup is a round trip the limiter waits for (the guard reuses it), so
     * agents behind one address keep their own buckets on either engine.
     */
    rateLimitKey(request: FastifyRequest): string | Promise<string> {
      const token = bearerToken(request.headers.authorization);
      if (token === null || !token.startsWith(AGENT_TOKEN_PREFIX)) return `ip:${request.ip}`;
      const keyOf = (principal: Principal | null) => (principal !== null && principal.kind === 'agent' ? `agent:${principal.agentId}` : `ip:${request.ip}`);
      const principal = identify(request, token);
      return principal instanceof Promise ? principal.then(keyOf) : keyOf(principal);
    },
  };
}

export type Access = ReturnType<typeof createAccess>;
export type Guards = Access['guards'];
