import { badRequest, conflict, notFound } from '../../shared/errors.js';
import type { AuthContext } from '../context.js';
import type { AdminUserPatch } from '../schemas.js';
import type { UserRecord } from '../stores/users.js';
import { durableTransaction } from '../../shared/db/durable.js';

export function adminView(user: UserRecord) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    tier: user.tier,
    suspended: user.suspended,
    totpEnabled: user.totpEnabled,
    createdAt: user.createdAt,
    lastLoginAt: user.lastLoginAt,
    planExpiresAt: user.planExpiresAt,
  };
}

/** Administrative changes to accounts, with the last-admin and self rules. */
export function createAdmin(ctx: AuthContext) {
  const { users, sessions, audit } = ctx;

  const updateTx = durableTransaction(ctx.db, (actor: UserRecord, targetId: string, patch: AdminUserPatch, ip: string) => {
    const target = users.get(targetId);
    if (!target) throw notFound('User not found');
    const demotes = patch.role === 'user' && target.role === 'admin';
    const suspends = patch.suspended === true && !target.suspended;
    if ((demotes || suspends) && target.id === actor.id) throw conflict('You cannot suspend or demote yourself');
    // Counted inside the transaction, so two admins demoting each other cannot both succeed.
    if ((demotes || suspends) && target.role === 'admin' && !target.suspended && users.countActiveAdmins() <= 1) {
      throw conflict('Cannot demote or suspend the last admin');
    }
    users.update(target, patch);
    const roleChanged = patch.role !== undefined && patch.role !== target.role;
    // Role changes and suspension end every session at once; a tier change does not.
    const revoked = roleChanged || suspends ? sessions.revokeAll(target.id) : 0;
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    for (const field of ['role', 'tier', 'planExpiresAt', 'suspended'] as const) {
      if (patch[field] !== undefined && patch[field] !== target[field]) changes[field] = { from: target[field], to: patch[field] };
    }
    audit.record({ action: 'admin.user.update', actorId: actor.id, targetId: target.id, ip, details: { changes, sessionsRevoked: revoked } });
    return users.get(target.id)!;
  });

  const revokeSessionTx = durableTransaction(ctx.db, (actor: UserRecord, sessionId: string, ip: string) => {
    if (!sessions.revoke(sessionId)) throw notFound('Session not found');
    audit.record({ action: 'admin.session.revoke', actorId: actor.id, ip, details: { sessionId } });
  });

  return {
    updateUser(actor: UserRecord, targetId: string, patch: AdminUserPatch, ip: string): UserRecord {
      // Unknown fields are stripped by validation; a body left with nothing to change is a 400.
      if (patch.role === undefined && patch.tier === undefined && patch.planExpiresAt === undefined && patch.suspended === undefined) {
        throw badRequest('Provide at least one of role, tier, planExpiresAt, suspended');
      }
      const normalised = { ...patch };
      if (typeof normalised.planExpiresAt === 'string') normalised.planExpiresAt = new Date(normalised.planExpiresAt).toISOString();
      return updateTx.immediate(actor, targetId, normalised, ip);
    },
    revokeSession(actor: UserRecord, sessionId: string, ip: string): void {
      revokeSessionTx(actor, sessionId, ip);
    },
  };
}
export type Admin = ReturnType<typeof createAdmin>;
