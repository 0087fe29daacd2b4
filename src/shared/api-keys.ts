import * as crypto from 'node:crypto';
import type { Clock } from './clock.js';
import { toIso } from './clock.js';
import { defineStatement, type Queryable, type Storage } from './db/storage.js';
import { maskSecret, matchesHash, newId, newSecretToken, sha256Hex } from './tokens.js';
import { tierAtLeast, type Tier } from './tiers.js';

export const KEY_SCOPES = ['read', 'write', 'admin'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];
export type KeyOrigin = 'user' | 'operator' | 'bootstrap';

export const API_KEY_PREFIX = 'pgk_';

export interface ApiKeyRecord {
  id: string;
  name: string;
  prefix: string;
  /** First 4 and last 4 characters: what logs and audit entries show. */
  masked: string;
  origin: KeyOrigin;
  ownerUserId: string | null;
  /** The tier that applies now: the owner's for user keys. */
  tier: Tier;
  /** The scopes that apply now: a user key of a community owner has lost `write`. */
  scopes: KeyScope[];
  createdAt: string;
  revokedAt: string | null;
}

export interface VerifiedKey extends ApiKeyRecord {
  /** One reporter per person: all keys of a user count as that user. */
  reporterId: string;
  ownerSuspended: boolean;
}

export interface KeyRow {
  id: string;
  name: string;
  key_hash: string;
  prefix: string;
  masked: string;
  origin: KeyOrigin;
  owner_user_id: string | null;
  tier: Tier | null;
  scopes: string;
  created_at: string;
  revoked_at: string | null;
  owner_tier: Tier | null;
  owner_suspended: number | null;
}

export interface NewApiKey {
  name: string;
  origin: KeyOrigin;
  scopes: readonly KeyScope[];
  ownerUserId?: string;
  /** Required for operator and bootstrap keys; user keys follow their owner. */
  tier?: Tier;
  /** A given secret (bootstrap keys from TC_API_KEYS); otherwise one is generated. */
  key?: string;
}

/** An api_keys row as the store inserts it. */
export type NewKeyRow = {
  id: string;
  name: string;
  keyHash: string;
  prefix: string;
  masked: string;
  origin: KeyOrigin;
  ownerUserId: string | null;
  tier: Tier | null;
  scopes: string;
  createdAt: string;
};

const SELECT = `
  SELECT k.*, u.tier AS owner_tier, u.suspended AS owner_suspended
  FROM api_keys k LEFT JOIN users u ON u.id = k.owner_user_id`;

/** Verified keys kept in memory at most; they are live keys in use, so this is rarely reached. */
export const MAX_CACHED_KEYS = 10_000;

/** SHA-256 hex of a secret, by the one-shot `crypto.hash` where Node has it (20.12+): cheaper than a Hash object. */
const digestOf: (secret: string) => string =
  typeof crypto.hash === 'function' ? (secret) => crypto.hash('sha256', secret, 'hex') : sha256Hex;

export function keyRecordOf(row: KeyRow): VerifiedKey {
  const tier = (row.origin === 'user' ? row.owner_tier : row.tier) ?? 'community';
  const stored = row.scopes.split(',').filter(Boolean) as KeyScope[];
  const scopes = row.origin === 'user' && !tierAtLeast(tier, 'solo') ? stored.filter((s) => s !== 'write') : stored;
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    masked: row.masked,
    origin: row.origin,
    ownerUserId: row.owner_user_id,
    tier,
    scopes,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    reporterId: row.owner_user_id ? `user:${row.owner_user_id}` : `key:${row.id}`,
    ownerSuspended: row.owner_suspended === 1,
  };
}

/** One record serves many requests: nobody may change it on the way. */
function freeze(record: VerifiedKey): VerifiedKey {
  Object.freeze(record.scopes);
  return Object.freeze(record);
}

const INSERT = defineStatement<NewKeyRow>(
  `INSERT INTO api_keys (id, name, key_hash, prefix, masked, origin, owner_user_id, tier, scopes, created_at)
     VALUES (@id, @name, @keyHash, @prefix, @masked, @origin, @ownerUserId, @tier, @scopes, @createdAt)`,
);
const BY_HASH = defineStatement<[keyHash: string], KeyRow>(`${SELECT} WHERE k.key_hash = ? AND k.revoked_at IS NULL`);
const BY_ID = defineStatement<[id: string], KeyRow>(`${SELECT} WHERE k.id = ?`);
const BY_OWNER = defineStatement<[ownerUserId: string], KeyRow>(
  `${SELECT} WHERE k.owner_user_id = ? AND k.revoked_at IS NULL ORDER BY k.created_at, k.id`,
);
const SERVICE_KEYS = defineStatement<void, KeyRow>(`${SELECT} WHERE k.origin <> 'user' AND k.revoked_at IS NULL ORDER BY k.created_at, k.id`);
const COUNT_OWNER = defineStatement<[ownerUserId: string], { n: number }>(
  `SELECT count(*) AS n FROM api_keys WHERE owner_user_id = ? AND revoked_at IS NULL`,
);
const REVOKE = defineStatement<[at: string, id: string]>(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`);
const REVOKE_OWNED = defineStatement<[at: string, id: string, ownerUserId: string]>(
  `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND owner_user_id = ? AND revoked_at IS NULL`,
);
const GENERATION = defineStatement<void, { n: number }>(`SELECT n FROM api_key_generation WHERE id = 1`);

/** What a key is stored by; tests seed keys with exactly the store's statements. */
export const API_KEY_STATEMENTS = { insert: INSERT, byId: BY_ID };

/** The row of a new key and its secret (given, or generated here). */
export function newKeyRow(input: NewApiKey, now: number): { row: NewKeyRow; key: string } {
  const key = input.key ?? newSecretToken(API_KEY_PREFIX);
  const row: NewKeyRow = {
    id: newId('key_'),
    name: input.name,
    keyHash: sha256Hex(key),
    prefix: key.slice(0, 8),
    masked: maskSecret(key),
    origin: input.origin,
    ownerUserId: input.ownerUserId ?? null,
    tier: input.origin === 'user' ? null : (input.tier ?? 'enterprise'),
    scopes: [...new Set(input.scopes)].join(','),
    createdAt: toIso(now),
  };
  return { row, key };
}

/**
 * API keys of the Threat Cloud, whoever made them; only SHA-256 digests are stored. Methods
 * that may run inside a caller's transaction take its handle first.
 */
export function createApiKeyStore(storage: Storage, clock: Clock) {
  /**
   * Keys verified since the key generation last moved, by digest of their secret (never the
   * secret). Every write that can change a key's verdict bumps the generation in its own
   * transaction (triggers of migration 12, whoever writes), and every verification reads it
   * first: a revocation, a suspension or a tier change is seen on the next request, from
   * this process or another. Only live keys are kept, so guessing fills nothing.
   */
  const verified = new Map<string, VerifiedKey>();
  let verifiedGeneration = -1;

  return {
    /** Stores a key and returns its record with the secret, which is never readable again. */
    async create(q: Queryable, input: NewApiKey): Promise<{ record: ApiKeyRecord; key: string }> {
      const { row, key } = newKeyRow(input, clock.now());
      await q.run(INSERT, row);
      return { record: keyRecordOf((await q.get(BY_ID, [row.id]))!), key };
    },

    /** The live key this secret belongs to, or null (unknown or revoked). */
    async verify(secret: string): Promise<VerifiedKey | null> {
      const current = (await storage.get(GENERATION))!.n;
      // The generation only grows. Verifications overlap while they wait for the database: one
      // that read an older generation than another already saw neither reads nor fills the
      // cache, and a row read while the generation moved on is not kept for the new one.
      if (current > verifiedGeneration) {
        verified.clear();
        verifiedGeneration = current;
      }
      const digest = digestOf(secret);
      const cached = current === verifiedGeneration ? verified.get(digest) : undefined;
      if (cached) return cached;
      const row = await storage.get(BY_HASH, [digest]);
      // The lookup is by digest; the timing-safe compare guards against any index quirk.
      if (!row || !matchesHash(secret, row.key_hash)) return null;
      const record = freeze(keyRecordOf(row));
      if (current !== verifiedGeneration) return record;
      if (verified.size >= MAX_CACHED_KEYS) verified.delete(verified.keys().next().value!);
      verified.set(digest, record);
      return record;
    },

    async get(id: string): Promise<VerifiedKey | null> {
      const row = await storage.get(BY_ID, [id]);
      return row ? keyRecordOf(row) : null;
    },

    async listByOwner(userId: string): Promise<ApiKeyRecord[]> {
      return (await storage.all(BY_OWNER, [userId])).map(keyRecordOf);
    },

    /** Operator and bootstrap keys that are not revoked. */
    async listServiceKeys(): Promise<ApiKeyRecord[]> {
      return (await storage.all(SERVICE_KEYS)).map(keyRecordOf);
    },

    /** Live keys of the user: what the api_keys quota counts (inside the creating transaction). */
    async countActiveByOwner(q: Queryable, userId: string): Promise<number> {
      return (await q.get(COUNT_OWNER, [userId]))!.n;
    },

    /** Revokes a key (only the owner's own when `ownerUserId` is given); false if none. */
    async revoke(q: Queryable, id: string, ownerUserId?: string): Promise<boolean> {
      const at = toIso(clock.now());
      const result = ownerUserId ? await q.run(REVOKE_OWNED, [at, id, ownerUserId]) : await q.run(REVOKE, [at, id]);
      return result.changes === 1;
    },
  };
}
export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;
