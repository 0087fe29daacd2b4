import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config.js';
import type { Clock } from './clock.js';
import type { Db } from './db/open.js';
import type { Storage } from './db/storage.js';
import type { TlsMaterial } from './base-app.js';

/** What every service factory is handed: no globals, no process.env. */
export interface ServiceDeps {
  /** The database, SQLite or PostgreSQL: every store's SQL goes through this port. */
  storage: Storage;
  /**
   * The SQLite connection under `storage`, absent on PostgreSQL: only for what SQLite alone
   * offers (the agent-token cache's TEMP triggers).
   */
  sqlite?: Db;
  config: ResolvedConfig;
  clock: Clock;
  logger?: FastifyBaseLogger;
  /** Serve over HTTPS with this key pair; absent: plain HTTP. */
  https?: TlsMaterial | null;
  /** Where several replicas count their rate limits together (REDIS_URL); absent: in this process. */
  redis?: Redis;
}

/** A per-minute limit of the contract multiplied by RATE_LIMIT_SCALE. */
export function scaled(limit: number, config: Pick<ResolvedConfig, 'rateLimitScale'>): number {
  return Math.max(1, Math.round(limit * config.rateLimitScale));
}
