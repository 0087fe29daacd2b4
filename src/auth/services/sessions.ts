import { notFound } from '../../shared/errors.js';
import type { AuthPrincipal } from '../authenticate.js';
import type { AuthContext } from '../context.js';

/** The signed-in user's own sessions: list them, revoke one, sign out here or everywhere. */
export function createUserSessions(ctx: AuthContext) {
  const { sessions, audit } = ctx;

  return {
    async list(principal: AuthPrincipal) {
      const { user, session } = principal;
      return (await sessions.listLive(user.id)).map((s) => ({
        id: s.id,
        createdAt: s.createdAt,
        lastUsedAt: s.lastUsedAt,
        expiresAt: s.expiresAt,
        ip: s.ip,
        userAgent: s.userAgent,
        current: s.id === session.id,
      }));
    },

    async revoke(principal: AuthPrincipal, sessionId: string, ip: string): Promise<void> {
      const { user } = principal;
      if (!(await sessions.revoke(ctx.storage, sessionId, user.id))) throw notFound('Session not found');
      await audit.recordNow({ action: 'session.revoke', actorId: user.id, targetId: user.id, ip, details: { sessionId } });
    },

    async logout(principal: AuthPrincipal, ip: string): Promise<void> {
      await sessions.revoke(ctx.storage, principal.session.id);
      await audit.recordNow({ action: 'logout', actorId: principal.user.id, targetId: principal.user.id, ip });
    },

    async logoutAll(principal: AuthPrincipal, ip: string): Promise<number> {
      const revoked = await sessions.revokeAll(ctx.storage, principal.user.id);
      await audit.recordNow({ action: 'logout.all', actorId: principal.user.id, targetId: principal.user.id, ip, details: { revoked } });
      return revoked;
    },
  };
}
export type UserSessions = ReturnType<typeof createUserSessions>;
