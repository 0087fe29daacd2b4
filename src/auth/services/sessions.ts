import { notFound } from '../../shared/errors.js';
import type { AuthPrincipal } from '../authenticate.js';
import type { AuthContext } from '../context.js';

/** The signed-in user's own sessions: list them, revoke one, sign out here or everywhere. */
export function createUserSessions(ctx: AuthContext) {
  const { sessions, audit } = ctx;

  return {
    list(principal: AuthPrincipal) {
      const { user, session } = principal;
      return sessions.listLive(user.id).map((s) => ({
        id: s.id,
        createdAt: s.createdAt,
        lastUsedAt: s.lastUsedAt,
        expiresAt: s.expiresAt,
        ip: s.ip,
        userAgent: s.userAgent,
        current: s.id === session.id,
      }));
    },

    revoke(principal: AuthPrincipal, sessionId: string, ip: string): void {
      const { user } = principal;
      if (!sessions.revoke(sessionId, user.id)) throw notFound('Session not found');
      audit.record({ action: 'session.revoke', actorId: user.id, targetId: user.id, ip, details: { sessionId } });
    },

    logout(principal: AuthPrincipal, ip: string): void {
      sessions.revoke(principal.session.id);
      audit.record({ action: 'logout', actorId: principal.user.id, targetId: principal.user.id, ip });
    },

    logoutAll(principal: AuthPrincipal, ip: string): number {
      const revoked = sessions.revokeAll(principal.user.id);
      audit.record({ action: 'logout.all', actorId: principal.user.id, targetId: principal.user.id, ip, details: { revoked } });
      return revoked;
    },
  };
}
export type UserSessions = ReturnType<typeof createUserSessions>;
