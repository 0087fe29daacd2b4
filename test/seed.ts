import type { Db } from '../src/shared/db/open.js';
import type { Storage } from '../src/shared/db/storage.js';
import type { Tier } from '../src/shared/tiers.js';
import { seedIocs } from '../src/threat-cloud/seed.js';
import { execute } from './port-sql.js';

/**
 * Rows written straight into the database, for tests whose subject is what another part does
 * with them (an ownerless key, an org seen from the Manager, a known-bad address at login)
 * and for states the API cannot reach quickly (a suspended owner, an IoC of a given age).
 * One place knows the columns, so a migration that adds a NOT NULL column breaks one file.
 */

const EPOCH_ISO = '2026-01-01T00:00:00.000Z';

export interface SeedUser {
  id: string;
  email?: string;
  name?: string;
  role?: 'user' | 'admin';
  tier?: Tier;
  suspended?: boolean;
  /** Unusable by default: seeded users are never meant to log in. */
  passwordHash?: string;
  createdAt?: string;
}

export function seedUser(db: Db, user: SeedUser): { id: string; email: string } {
  return prepareUserSeeder(db)(user);
}

/**
 * `seedUser` with its statement prepared once: for thousands of rows in one transaction, or
 * for a writer whose point is to insert as fast as it can while something else reads the file.
 */
export function prepareUserSeeder(db: Db): (user: SeedUser) => { id: string; email: string } {
  const insert = db.prepare(INSERT_USER);
  return (user) => {
    const row = userRow(user);
    insert.run(row);
    return { id: user.id, email: row.email };
  };
}

/** `seedUser` through the storage port, on either engine. */
export async function seedUserIn(storage: Storage, user: SeedUser): Promise<{ id: string; email: string }> {
  const row = userRow(user);
  await execute(storage, INSERT_USER, row);
  return { id: user.id, email: row.email };
}

const INSERT_USER = `INSERT INTO users (id, email, name, password_hash, role, tier, suspended, created_at, updated_at)
     VALUES (@id, @email, @name, @passwordHash, @role, @tier, @suspended, @createdAt, @createdAt)`;

const userRow = (user: SeedUser) => ({
  id: user.id,
  email: user.email ?? `${user.id}@example.com`,
  name: user.name ?? 'Seeded User',
  passwordHash: user.passwordHash ?? 'not-a-password-hash',
  role: user.role ?? 'user',
  tier: user.tier ?? 'community',
  suspended: user.suspended ? 1 : 0,
  createdAt: user.createdAt ?? EPOCH_ISO,
});

export interface SeedAgent {
  id: string;
  orgId: string;
  hostname?: string;
  os?: string;
  version?: string;
  ip?: string;
  tokenHash?: string;
  status?: 'online' | 'stale' | 'offline';
  lastHeartbeatMs?: number;
  registeredAt?: string;
}

const INSERT_AGENT = `INSERT INTO agents (id, org_id, hostname, os, version, ip, token_hash, status, status_changed_at, last_heartbeat_ms, registered_at)
     VALUES (@id, @orgId, @hostname, @os, @version, @ip, @tokenHash, @status, @registeredAt, @lastHeartbeatMs, @registeredAt)`;

const agentRow = (agent: SeedAgent) => ({
  id: agent.id,
  orgId: agent.orgId,
  hostname: agent.hostname ?? agent.id,
  os: agent.os ?? 'linux',
  version: agent.version ?? '1.0.0',
  ip: agent.ip ?? '10.0.0.1',
  tokenHash: agent.tokenHash ?? `token-hash-${agent.id}`,
  status: agent.status ?? 'online',
  lastHeartbeatMs: agent.lastHeartbeatMs ?? 0,
  registeredAt: agent.registeredAt ?? EPOCH_ISO,
});

export function seedAgent(db: Db, agent: SeedAgent): { id: string } {
  db.prepare(INSERT_AGENT).run(agentRow(agent));
  return { id: agent.id };
}

/** `seedAgent` through the storage port, on either engine. */
export async function seedAgentIn(storage: Storage, agent: SeedAgent): Promise<{ id: string }> {
  await execute(storage, INSERT_AGENT, agentRow(agent));
  return { id: agent.id };
}

export interface SeedIoc {
  id: string;
  type?: 'ip' | 'domain' | 'hash' | 'url' | 'email' | 'cve';
  value: string;
  reputation: number;
  status?: 'active' | 'expired' | 'whitelisted' | 'revoked';
  severity?: 'low' | 'medium' | 'high' | 'critical';
  confidence?: number;
  /** Unique per IoC: the feeds' change cursor. */
  changeSeq: number;
  at?: string;
}

/** An IoC as the Threat Cloud stores it, without the merge rules (no sighting, no reporter). */
export function seedIoc(db: Db, ioc: SeedIoc): { id: string } {
  db.prepare(INSERT_IOC).run(iocRow(ioc));
  return { id: ioc.id };
}

/** `seedIoc` through the storage port, on either engine. */
export async function seedIocIn(storage: Storage, ioc: SeedIoc): Promise<{ id: string }> {
  await execute(storage, INSERT_IOC, iocRow(ioc));
  return { id: ioc.id };
}

const INSERT_IOC = `INSERT INTO iocs (id, type, value, reputation, status, severity, confidence, source, first_seen, last_seen, updated_at, change_seq)
     VALUES (@id, @type, @value, @reputation, @status, @severity, @confidence, 'test', @at, @at, @at, @changeSeq)`;

const iocRow = (ioc: SeedIoc) => ({
  id: ioc.id,
  type: ioc.type ?? 'ip',
  value: ioc.value,
  reputation: ioc.reputation,
  status: ioc.status ?? 'active',
  severity: ioc.severity ?? 'high',
  confidence: ioc.confidence ?? 0.9,
  changeSeq: ioc.changeSeq,
  at: ioc.at ?? EPOCH_ISO,
});

/**
 * Seeded IoCs made uneven (src/threat-cloud/seed.ts, then rewritten): rare types and statuses,
 * IoCs with no category, a second source, and many ties of reputation and last report — what
 * list, feed and paging tests need to meet every branch.
 */
export function seedUnevenIocs(db: Db, count: number, now: number): void {
  seedIocs(db, { count, now });
  db.exec(`
    UPDATE iocs SET status = 'revoked' WHERE rowid % 41 = 0;
    UPDATE iocs SET status = 'expired' WHERE rowid % 7 = 0;
    UPDATE iocs SET type = 'hash', value = printf('%064x', rowid) WHERE rowid % 53 = 0;
    UPDATE iocs SET category = NULL WHERE rowid % 11 = 0;
    UPDATE iocs SET last_seen = '2026-03-01T00:00:00.000Z' WHERE rowid % 13 = 0;
    UPDATE iocs SET reputation = 55 WHERE rowid % 17 = 0;
    INSERT INTO ioc_sources (source, ioc_id) SELECT 'rare-feed', id FROM iocs WHERE rowid % 29 = 0;
  `);
}
