import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../shared/base-app.js';
import { forbidden, unauthorized } from '../shared/errors.js';
import { bearerToken } from '../shared/tokens.js';
import type { AuthContext } from './context.js';
import type { SessionRecord } from './stores/sessions.js';
import type { UserRecord } from './stores/users.js';
import { DAY_MS } from '../shared/time.js';

/** The caller of a session route: the account as stored now and the session in use. */
export interface AuthPrincipal {
  user: UserRecord;
  session: SessionRecord;
}

/**
 * Where the session check leaves the principal on a request: a symbol the Auth app decorates
 * its requests with, so the Manager's and the Threat Cloud's requests carry no such field.
 */
const PRINCIPAL = Symbol('authPrincipal');
type WithPrincipal = FastifyRequest & { [PRINCIPAL]: AuthPrincipal | null };

/** Gives every request of the Auth app the (empty) principal slot, before any route is added. */
export function decoratePrincipal(app: App): void {
  app.decorateRequest(PRINCIPAL, null);
}

export const AUTH_REQUIRED = 'Authentication required';
export const INVALID_TOKEN = 'Invalid or expired token';
export const SESSION_TTL_MS = DAY_MS;

interface Claims {
  sub?: unknown;
  sid?: unknown;
  exp?: unknown;
  nbf?: unknown;
}

/**
 * `exp` and `nbf` against the service clock, as fast-jwt judges them (valid through the second
 * of `exp`, from the second of `nbf`). The plugin's verifier ignores both: see app.ts.
 */
function withinValidity(exp: number, nbf: unknown, now: number): boolean {
  if (now > exp * 1000) return false;
  return nbf === undefined || (typeof nbf === 'number' && now >= nbf * 1000);
}

/** Signs and checks the JWTs of the Auth Server (HS256 pinned on both sides). */
export function createTokenIssuer(app: App, ctx: AuthContext) {
  return {
    issue(user: UserRecord, session: SessionRecord): { token: string; expiresAt: string } {
      const iat = Math.floor(Date.parse(session.createdAt) / 1000);
      const exp = Math.floor(Date.parse(session.expiresAt) / 1000);
      const token = app.jwt.sign({ sub: user.id, sid: session.id, role: user.role, tier: user.tier, iat, exp });
      return { token, expiresAt: session.expiresAt };
    },
    /**
     * The principal behind a bearer token: signature (HS256 only), expiry on the service
     * clock, a live session row of the same user, and the account as it is now.
     */
    async principalOf(token: string): Promise<AuthPrincipal | null> {
      let claims: Claims;
      try {
        // Signature and HS256 only; the dates below, on the service clock (tests move it).
        claims = app.jwt.verify<Claims>(token);
      } catch {
        return null;
      }
      if (typeof claims.sub !== 'string' || typeof claims.sid !== 'string' || typeof claims.exp !== 'number') return null;
      if (!withinValidity(claims.exp, claims.nbf, ctx.clock.now())) return null;
      const session = await ctx.sessions.use(claims.sid);
      if (!session || session.userId !== claims.sub) return null;
      const user = await ctx.users.get(ctx.storage, session.userId);
      if (!user) return null;
      return { user, session };
    },
  };
}
export type TokenIssuer = ReturnType<typeof createTokenIssuer>;

/**
 * preValidation hooks: they run after the rate limiter (onRequest), so failed
 * authentication attempts are counted by it too.
 */
export function createGuards(tokens: TokenIssuer) {
  async function requireSession(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization;
    if (header === undefined || header.trim() === '') throw unauthorized(AUTH_REQUIRED);
    const token = bearerToken(header);
    const principal = token ? await tokens.principalOf(token) : null;
    if (!principal) throw unauthorized(INVALID_TOKEN);
    // Suspension revokes sessions; this covers a flag set outside the API (CLI, SQL).
    if (principal.user.suspended) throw forbidden('Account suspended');
    (request as WithPrincipal)[PRINCIPAL] = principal;
  }
  async function requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await requireSession(request, reply);
    if (principal(request).user.role !== 'admin') throw forbidden('Admin access required');
  }
  return { requireSession, requireAdmin };
}
export type Guards = ReturnType<typeof createGuards>;

/** The principal of a route behind `requireSession`. */
export function principal(request: FastifyRequest): AuthPrincipal {
  const found = (request as WithPrincipal)[PRINCIPAL];
  if (!found) throw unauthorized(AUTH_REQUIRED);
  return found;
}

export function clientMeta(request: FastifyRequest): { ip: string; userAgent: string | null } {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}
