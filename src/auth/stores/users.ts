import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { newId } from '../../shared/tokens.js';
import type { Tier } from '../../shared/tiers.js';
import { COUNT_CAP } from '../../shared/capped-total.js';
import { prefixSearch } from '../../shared/db/prefix-search.js';
import { defineStatement, type PerEngineSql, type Queryable, type Statement, type Storage } from '../../shared/db/storage.js';

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

/** Every account read joins in its TOTP flag. */
const USERS_WITH_TOTP = 'FROM users u LEFT JOIN totp_secrets t ON t.user_id = u.id';
const SELECT = `SELECT u.*, coalesce(t.enabled, 0) AS totp_enabled ${USERS_WITH_TOTP}`;

/**
 * An account read by id, as the session check does on every signed-in request: values in this
 * order, unnamed (better-sqlite3 names each column of each row it returns as an object).
 */
type UserValues = [
  id: string,
  email: string,
  name: string,
  passwordHash: string,
  role: Role,
  tier: Tier,
  suspended: number,
  planExpiresAt: string | null,
  createdAt: string,
  updatedAt: string,
  lastLoginAt: string | null,
  totpEnabled: number,
];
/** The columns of `users` in the order of `UserValues`, for reads that name them. */
const USER_COLUMNS = ['id', 'email', 'name', 'password_hash', 'role', 'tier', 'suspended', 'plan_expires_at', 'created_at', 'updated_at', 'last_login_at']
  .map((column) => `u.${column}`)
  .join(', ');
const SELECT_VALUES = `SELECT ${USER_COLUMNS}, coalesce(t.enabled, 0) ${USERS_WITH_TOTP}`;

function fromValues(values: UserValues): UserRecord {
  return {
    id: values[0],
    email: values[1],
    name: values[2],
    passwordHash: values[3],
    role: values[4],
    tier: values[5],
    suspended: values[6] === 1,
    planExpiresAt: values[7],
    createdAt: values[8],
    updatedAt: values[9],
    lastLoginAt: values[10],
    totpEnabled: values[11] === 1,
  };
}

// The admin list, newest first: one statement per combination of filters and index, each an
// ordered walk of an index that also holds the filters (see migrations/011-read-indexes.ts).
// On PostgreSQL, whose planner chooses the index itself, ascii_lower on both sides of LIKE
// keeps the search blind to ASCII case only, as SQLite's LIKE is (lower() would fold more).
const USER_LIST_INDEXES = { all: 'users_list', role: 'users_role_list', tier: 'users_tier_list' } as const;
export type UserListIndex = keyof typeof USER_LIST_INDEXES;
const SEARCH_CLAUSE: PerEngineSql = {
  sqlite: `(u.email LIKE @q ESCAPE '\\' OR u.name LIKE @q ESCAPE '\\')`,
  postgres: `(ascii_lower(u.email) LIKE ascii_lower(@q) ESCAPE '\\' OR ascii_lower(u.name) LIKE ascii_lower(@q) ESCAPE '\\')`,
};
/** SQLite's `u.*`: every column but PostgreSQL's rowid identity column, so both engines answer the same rows. */
const composedLists = new Map<string, Statement<Record<string, unknown>, UserRow>>();

/** The admin list's page statement for a walk and the filters present: composed once, the same object after. */
export function userListStatement(index: UserListIndex, filter: { q: boolean; role: boolean; tier: boolean }): Statement<Record<string, unknown>, UserRow> {
  const key = `${index}:${filter.q}:${filter.role}:${filter.tier}`;
  let statement = composedLists.get(key);
  if (!statement) {
    const inDialect = (engine: keyof PerEngineSql) => {
      const where = [filter.q ? SEARCH_CLAUSE[engine] : '', filter.role ? 'u.role = @role' : '', filter.tier ? 'u.tier = @tier' : ''].filter(Boolean);
      // The TOTP flag as a result column: looked up for the returned rows only, not the skipped ones.
      return `
        SELECT ${engine === 'sqlite' ? 'u.*' : USER_COLUMNS}, coalesce((SELECT t.enabled FROM totp_secrets t WHERE t.user_id = u.id), 0) AS totp_enabled
        FROM users u${engine === 'sqlite' ? ` INDEXED BY ${USER_LIST_INDEXES[index]}` : ''}
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY u.created_at DESC, u.id LIMIT @limit OFFSET @offset`;
    };
    statement = defineStatement<Record<string, unknown>, UserRow>({ sqlite: inDialect('sqlite'), postgres: inDialect('postgres') });
    composedLists.set(key, statement);
  }
  return statement;
}

// Search matches counted on the prefix indexes, each side stopping at the cap, so a count
// costs what it finds, not the whole table; LIKE keeps the exact semantics of the list's filter.
// No upper bound (null) is a BLOB on SQLite, above all text there, so the range keeps both ends.
const prefixMatches = (column: 'email' | 'name', engine: keyof PerEngineSql, key: 'rowid' | 'id' = 'rowid') =>
  engine === 'sqlite'
    ? `SELECT ${key} FROM (SELECT ${key} FROM users INDEXED BY users_${column}_prefix
       WHERE ${column} COLLATE NOCASE >= @lo AND ${column} COLLATE NOCASE < coalesce(@hi, x'ff') AND ${column} LIKE @q ESCAPE '\\'
         AND (@role IS NULL OR role = @role) AND (@tier IS NULL OR tier = @tier) LIMIT @cap) AS ${column}_matches`
    : `SELECT ${key} FROM (SELECT ${key} FROM users
       WHERE ascii_lower(${column}) >= @lo AND (CAST(@hi AS text) IS NULL OR ascii_lower(${column}) < @hi) AND ascii_lower(${column}) LIKE ascii_lower(@q) ESCAPE '\\'
         AND (CAST(@role AS text) IS NULL OR role = @role) AND (CAST(@tier AS text) IS NULL OR tier = @tier) LIMIT @cap) AS ${column}_matches`;
/** Accounts matching a search, up to the cap: either side may hold up to the cap, their union more, so the answer is capped again. */
export const USER_SEARCH_COUNT = defineStatement<Record<string, unknown>, { n: number }>({
  sqlite: `SELECT min(count(*), @cap) AS n FROM (${prefixMatches('email', 'sqlite')} UNION ${prefixMatches('name', 'sqlite')}) AS matches`,
  postgres: `SELECT least(count(*), @cap) AS n FROM (${prefixMatches('email', 'postgres')} UNION ${prefixMatches('name', 'postgres')}) AS matches`,
});

/**
 * A search with at most this many matches sorts them, found on the prefix indexes, instead of
 * walking the list in order until the page is full: a rare match (`q=yara.l` among 100,000
 * accounts) made that walk read every account (249 ms on PostgreSQL at 300,000 IoCs' scale).
 */
export const SORTED_MATCHES_MAX = 1000;

/** A page of a search's few matches (at most SORTED_MATCHES_MAX), newest first as the list. */
const matchesPage = (engine: keyof PerEngineSql) => `
  SELECT ${engine === 'sqlite' ? 'u.*' : USER_COLUMNS}, coalesce((SELECT t.enabled FROM totp_secrets t WHERE t.user_id = u.id), 0) AS totp_enabled
  FROM users u WHERE u.id IN (${prefixMatches('email', engine, 'id')} UNION ${prefixMatches('name', engine, 'id')})
  ORDER BY u.created_at DESC, u.id LIMIT @limit OFFSET @offset`;
export const USER_MATCHES_PAGE = defineStatement<Record<string, unknown>, UserRow>({ sqlite: matchesPage('sqlite'), postgres: matchesPage('postgres') });

/** A search's parameters, the same on both engines: the list's (the page takes `limit` and `offset` besides) and the count's, with a search only. */
export function userSearchParams(filter: Pick<UserSearch, 'q' | 'role' | 'tier'>): {
  list: { q: string | null; role: Role | null; tier: Tier | null };
  count: Record<string, unknown> | null;
} {
  const search = filter.q ? prefixSearch(filter.q) : null;
  const list = { q: search?.like ?? null, role: filter.role ?? null, tier: filter.tier ?? null };
  return { list, count: search ? { ...list, lo: search.lo, hi: search.hi, cap: COUNT_CAP } : null };
}

/** The administration's account statistics, from the trigger-kept counts (never the accounts themselves). */
const USER_STATS = {
  byTier: defineStatement<void, { key: string; n: number }>(`SELECT tier AS key, sum(n) AS n FROM user_counts GROUP BY tier HAVING sum(n) > 0`),
  byRole: defineStatement<void, { key: string; n: number }>(`SELECT role AS key, sum(n) AS n FROM user_counts GROUP BY role HAVING sum(n) > 0`),
  signupsSince: defineStatement<[day: string], { day: string; n: number }>(`SELECT day, n FROM user_signups WHERE day >= ? ORDER BY day`),
  totpAdoption: defineStatement<void, { n: number }>(`SELECT coalesce(sum(n), 0) AS n FROM auth_counts WHERE kind = 'totp'`),
};

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

const BY_ID = defineStatement<[id: string], UserValues>(`${SELECT_VALUES} WHERE u.id = ?`, { asArrays: true });
const BY_EMAIL = defineStatement<[email: string], UserRow>(`${SELECT} WHERE u.email = ?`);
const COUNT_ALL = defineStatement<void, { n: number }>(`SELECT coalesce(sum(n), 0) AS n FROM user_counts`);
const COUNT_ACTIVE_ADMINS = defineStatement<void, { n: number }>(`SELECT count(*) AS n FROM users WHERE role = 'admin' AND suspended = 0`);
type NewUserRow = { id: string; email: string; name: string; passwordHash: string; role: Role; now: string };
const INSERT = defineStatement<NewUserRow>(
  `INSERT INTO users (id, email, name, password_hash, role, tier, created_at, updated_at)
     VALUES (@id, @email, @name, @passwordHash, @role, 'community', @now, @now)`,
);
const SET_PASSWORD = defineStatement<[passwordHash: string, now: string, id: string]>(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`);
const SET_LAST_LOGIN = defineStatement<[now: string, id: string]>(`UPDATE users SET last_login_at = ? WHERE id = ?`);
type UserUpdate = { id: string; role: Role; tier: Tier; planExpiresAt: string | null; suspended: number; now: string };
const UPDATE = defineStatement<UserUpdate>(
  `UPDATE users SET role = @role, tier = @tier, plan_expires_at = @planExpiresAt, suspended = @suspended, updated_at = @now WHERE id = @id`,
);
const SET_TIER = defineStatement<[tier: Tier, planExpiresAt: string | null, now: string, id: string]>(
  `UPDATE users SET tier = ?, plan_expires_at = ?, updated_at = ? WHERE id = ?`,
);
// Only if the plan still ends by then: a renewal that committed after the sweep's read keeps its tier.
const EXPIRE_PLAN = defineStatement<[now: string, id: string, expiredBy: string]>(
  `UPDATE users SET tier = 'community', plan_expires_at = NULL, updated_at = ? WHERE id = ? AND plan_expires_at IS NOT NULL AND plan_expires_at <= ?`,
);
// Partial index users_plan_expires: the hourly sweep reads only accounts with a plan end.
const EXPIRED_PLANS = defineStatement<[now: string], { id: string; tier: Tier }>(
  `SELECT id, tier FROM users WHERE plan_expires_at IS NOT NULL AND plan_expires_at <= ?`,
);
const REMOVE = defineStatement<[id: string]>(`DELETE FROM users WHERE id = ?`);
const ROLE_TIER_COUNT = defineStatement<{ role: string | null; tier: string | null }, { n: number }>(
  `SELECT coalesce(sum(n), 0) AS n FROM user_counts WHERE (CAST(@role AS TEXT) IS NULL OR role = @role) AND (CAST(@tier AS TEXT) IS NULL OR tier = @tier)`,
);

/**
 * Accounts in the core `users` table, with the TOTP flag joined in. Methods a transaction
 * needs take its handle first; left out, they run on their own.
 */
export function createUserStore(storage: Storage, clock: Clock) {

  /** The walk that reads least: the role's or tier's index when it holds few accounts, else the full list's. */
  const chooseIndex = async (filter: UserSearch): Promise<UserListIndex> => {
    // Walking the role or tier index reads each account's row to check the search: a row read
    // costs about 20 index entries (measured on 100,000 accounts).
    const rowReads = filter.q ? 20 : 1;
    let best: UserListIndex = 'all';
    let bestCost = filter.role || filter.tier || filter.q ? (await storage.get(COUNT_ALL))!.n : 0;
    for (const key of ['role', 'tier'] as const) {
      const value = filter[key];
      if (value === undefined) continue;
      const cost = (await storage.get(ROLE_TIER_COUNT, { role: key === 'role' ? value : null, tier: key === 'tier' ? value : null }))!.n * rowReads;
      if (cost < bestCost) [best, bestCost] = [key, cost];
    }
    return best;
  };

  return {
    async get(q: Queryable, id: string): Promise<UserRecord | null> {
      const values = await q.get(BY_ID, [id]);
      return values ? fromValues(values) : null;
    },
    async getByEmail(q: Queryable, email: string): Promise<UserRecord | null> {
      const row = await q.get(BY_EMAIL, [email]);
      return row ? toUser(row) : null;
    },
    async count(q: Queryable = storage): Promise<number> {
      return (await q.get(COUNT_ALL))!.n;
    },
    async countActiveAdmins(q: Queryable = storage): Promise<number> {
      return (await q.get(COUNT_ACTIVE_ADMINS))!.n;
    },
    /** Inserts an account; call inside a transaction that decided the role. */
    async insert(q: Queryable, input: { email: string; name: string; passwordHash: string; role: Role }): Promise<string> {
      const id = newId('usr_');
      await q.run(INSERT, { id, ...input, now: toIso(clock.now()) });
      return id;
    },
    async setPassword(q: Queryable, id: string, passwordHash: string): Promise<void> {
      await q.run(SET_PASSWORD, [passwordHash, toIso(clock.now()), id]);
    },
    async recordLogin(q: Queryable, id: string): Promise<void> {
      await q.run(SET_LAST_LOGIN, [toIso(clock.now()), id]);
    },
    async update(q: Queryable, user: UserRecord, changes: UserChanges): Promise<void> {
      await q.run(UPDATE, {
        id: user.id,
        role: changes.role ?? user.role,
        tier: changes.tier ?? user.tier,
        planExpiresAt: changes.planExpiresAt === undefined ? user.planExpiresAt : changes.planExpiresAt,
        suspended: (changes.suspended ?? user.suspended) ? 1 : 0,
        now: toIso(clock.now()),
      });
    },
    async setTier(q: Queryable, id: string, tier: Tier, planExpiresAt: string | null): Promise<void> {
      await q.run(SET_TIER, [tier, planExpiresAt, toIso(clock.now()), id]);
    },
    /** Drops an account whose plan ended by `nowIso` to community; false when its plan was renewed (or removed) meanwhile. */
    async expirePlan(q: Queryable, id: string, nowIso: string): Promise<boolean> {
      return (await q.run(EXPIRE_PLAN, [toIso(clock.now()), id, nowIso])).changes === 1;
    },
    withExpiredPlans(nowIso: string): Promise<Array<{ id: string; tier: Tier }>> {
      return storage.all(EXPIRED_PLANS, [nowIso]);
    },
    async delete(q: Queryable, id: string): Promise<void> {
      await q.run(REMOVE, [id]);
    },
    /**
     * A page of the admin list and its total: exact from the kept counts without a search;
     * with one, counted up to `COUNT_CAP`.
     */
    async search(filter: UserSearch): Promise<{ items: UserRecord[]; total: number }> {
      const { list: params, count } = userSearchParams(filter);
      const total = count ? (await storage.get(USER_SEARCH_COUNT, count))!.n : (await storage.get(ROLE_TIER_COUNT, { role: params.role, tier: params.tier }))!.n;
      if (filter.offset >= total) return { items: [], total };
      const page = { limit: filter.limit, offset: filter.offset };
      if (count && total <= SORTED_MATCHES_MAX) return { items: (await storage.all(USER_MATCHES_PAGE, { ...count, ...page })).map(toUser), total };
      const statement = userListStatement(await chooseIndex(filter), { q: Boolean(filter.q), role: params.role !== null, tier: params.tier !== null });
      return { items: (await storage.all(statement, { ...params, ...page })).map(toUser), total };
    },
    /** Accounts by tier and role, signups per day from `signupsSinceIso` (the start of a UTC day), TOTP adoption. */
    async stats(signupsSinceIso: string) {
      return {
        byTier: Object.fromEntries((await storage.all(USER_STATS.byTier)).map((r) => [r.key, r.n])) as Record<string, number>,
        byRole: Object.fromEntries((await storage.all(USER_STATS.byRole)).map((r) => [r.key, r.n])) as Record<string, number>,
        signups: await storage.all(USER_STATS.signupsSince, [signupsSinceIso.slice(0, 10)]),
        totpEnabled: (await storage.get(USER_STATS.totpAdoption))!.n,
      };
    },
  };
}
export type UserStore = ReturnType<typeof createUserStore>;
