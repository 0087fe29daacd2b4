import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { newId } from '../../shared/tokens.js';
import type { Tier } from '../../shared/tiers.js';

export type Role = 'user' | 'admin';

export interface UserRecord {
  id: string;
  email: string;
  name: string;
  passwordHash: string;
  role: Role;
  tier: Tier;
  suspended: boolean;
  planExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
  totpEnabled: boolean;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  role: Role;
  tier: Tier;
  suspended: number;
  plan_expires_at: string | null;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  totp_enabled: number;
}

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    passwordHash: row.password_hash,
    role: row.role,
    tier: row.tier,
    suspended: row.suspended === 1,
    planExpiresAt: row.plan_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastLoginAt: row.last_login_at,
    totpEnabled: row.totp_enabled === 1,
  };
}

const SELECT = `
  SELECT u.*, coalesce(t.enabled, 0) AS totp_enabled
  FROM users u LEFT JOIN totp_secrets t ON t.user_id = u.id`;

export interface UserSearch {
  q?: string;
  role?: Role;
  tier?: Tier;
  limit: number;
  offset: number;
}

export interface UserChanges {
  role?: Role;
  tier?: Tier;
  planExpiresAt?: string | null;
  suspended?: boolean;
}

/** Accounts in the core `users` table, with the TOTP flag joined in. */
export function createUserStore(db: Db, clock: Clock) {
  const byId = db.prepare<[string], UserRow>(`${SELECT} WHERE u.id = ?`);
  const byEmail = db.prepare<[string], UserRow>(`${SELECT} WHERE u.email = ?`);
  const countAll = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM users`);
  const countActiveAdmins = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM users WHERE role = 'admin' AND suspended = 0`);
  const insert = db.prepare(
    `INSERT INTO users (id, email, name, password_hash, role, tier, created_at, updated_at)
     VALUES (@id, @email, @name, @passwordHash, @role, 'community', @now, @now)`,
  );
  const setPassword = db.prepare(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`);
  const setLastLogin = db.prepare(`UPDATE users SET last_login_at = ? WHERE id = ?`);
  const update = db.prepare(
    `UPDATE users SET role = @role, tier = @tier, plan_expires_at = @planExpiresAt, suspended = @suspended, updated_at = @now WHERE id = @id`,
  );
  const setTier = db.prepare(`UPDATE users SET tier = ?, plan_expires_at = ?, updated_at = ? WHERE id = ?`);
  const expiredPlans = db.prepare<[string], { id: string; tier: Tier }>(
    `SELECT id, tier FROM users WHERE plan_expires_at IS NOT NULL AND plan_expires_at <= ?`,
  );
  const remove = db.prepare(`DELETE FROM users WHERE id = ?`);
  const searchWhere = `
    WHERE (@q IS NULL OR u.email LIKE @q ESCAPE '\\' OR u.name LIKE @q ESCAPE '\\')
      AND (@role IS NULL OR u.role = @role)
      AND (@tier IS NULL OR u.tier = @tier)`;
  const search = db.prepare<[Record<string, unknown>], UserRow>(`${SELECT} ${searchWhere} ORDER BY u.created_at DESC, u.id LIMIT @limit OFFSET @offset`);
  const searchCount = db.prepare<[Record<string, unknown>], { n: number }>(`SELECT count(*) AS n FROM users u ${searchWhere}`);
  const byTier = db.prepare<[], { key: string; n: number }>(`SELECT tier AS key, count(*) AS n FROM users GROUP BY tier`);
  const byRole = db.prepare<[], { key: string; n: number }>(`SELECT role AS key, count(*) AS n FROM users GROUP BY role`);
  const signupsSince = db.prepare<[string], { day: string; n: number }>(
    `SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM users WHERE created_at >= ? GROUP BY day ORDER BY day`,
  );
  const totpAdoption = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM totp_secrets WHERE enabled = 1`);

  return {
    get(id: string): UserRecord | null {
      const row = byId.get(id);
      return row ? toUser(row) : null;
    },
    getByEmail(email: string): UserRecord | null {
      const row = byEmail.get(email);
      return row ? toUser(row) : null;
    },
    count(): number {
      return countAll.get()!.n;
    },
    countActiveAdmins(): number {
      return countActiveAdmins.get()!.n;
    },
    /** Inserts an account; call inside a transaction that decided the role. */
    insert(input: { email: string; name: string; passwordHash: string; role: Role }): string {
      const id = newId('usr_');
      insert.run({ id, ...input, now: toIso(clock.now()) });
      return id;
    },
    setPassword(id: string, passwordHash: string): void {
      setPassword.run(passwordHash, toIso(clock.now()), id);
    },
    recordLogin(id: string): void {
      setLastLogin.run(toIso(clock.now()), id);
    },
    update(user: UserRecord, changes: UserChanges): void {
      update.run({
        id: user.id,
        role: changes.role ?? user.role,
        tier: changes.tier ?? user.tier,
        planExpiresAt: changes.planExpiresAt === undefined ? user.planExpiresAt : changes.planExpiresAt,
        suspended: (changes.suspended ?? user.suspended) ? 1 : 0,
        now: toIso(clock.now()),
      });
    },
    setTier(id: string, tier: Tier, planExpiresAt: string | null): void {
      setTier.run(tier, planExpiresAt, toIso(clock.now()), id);
    },
    withExpiredPlans(nowIso: string): Array<{ id: string; tier: Tier }> {
      return expiredPlans.all(nowIso);
    },
    delete(id: string): void {
      remove.run(id);
    },
    search(filter: UserSearch): { items: UserRecord[]; total: number } {
      const params = {
        q: filter.q ? `${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null,
        role: filter.role ?? null,
        tier: filter.tier ?? null,
      };
      return {
        items: search.all({ ...params, limit: filter.limit, offset: filter.offset }).map(toUser),
        total: searchCount.get(params)!.n,
      };
    },
    stats(signupsSinceIso: string) {
      return {
        byTier: Object.fromEntries(byTier.all().map((r) => [r.key, r.n])) as Record<string, number>,
        byRole: Object.fromEntries(byRole.all().map((r) => [r.key, r.n])) as Record<string, number>,
        signups: signupsSince.all(signupsSinceIso),
        totpEnabled: totpAdoption.get()!.n,
      };
    },
  };
}
export type UserStore = ReturnType<typeof createUserStore>;
