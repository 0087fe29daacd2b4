import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResolvedConfig } from '../config.js';
import type { ApiKeyStore, KeyScope } from '../shared/api-keys.js';
import type { Clock } from '../shared/clock.js';
import type { Db } from '../shared/db/open.js';
import type { AuditStore, QueryAuditBuffer } from './audit.js';
import type { CampaignLinks } from './intel/index.js';
import type { FeedStore } from './feeds.js';
import type { IocQueries } from './ioc-queries.js';
import type { IocService } from './ioc-service.js';
import type { RuleStore } from './rules.js';
import type { createStatsStore } from './stats.js';

/** Everything the Threat Cloud's route modules are handed (no globals). */
export interface ThreatCloudContext {
  db: Db;
  clock: Clock;
  config: ResolvedConfig;
  keys: ApiKeyStore;
  iocs: IocService;
  queries: IocQueries;
  audit: AuditStore;
  queryAudit: QueryAuditBuffer;
  feeds: FeedStore;
  rules: RuleStore;
  stats: ReturnType<typeof createStatsStore>;
  /** Campaign membership and trap-intel correlation (src/threat-cloud/intel). */
  campaigns: CampaignLinks;
  apiKeyGuard: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  adminGuard: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** The lower per-key limit of IoC searches (`since`, `q`), checked after the key guard. */
  searchGuard: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/** Route options of an `/api/*` route: its scope, and the key guard instead of the global per-IP limiter. */
export function apiRoute(context: ThreatCloudContext, scope: KeyScope) {
  return {
    config: { rateLimit: false as const, tcScope: scope },
    preValidation: context.apiKeyGuard,
  };
}

/** Who did it, as the audit log shows it: the masked key (first 4 + last 4) and the client IP. */
export function actor(request: FastifyRequest): { apiKey: string | null; ip: string } {
  return { apiKey: request.tcKey?.masked ?? null, ip: request.ip };
}

/** OpenAPI security requirement of bearer-authenticated routes. */
export const BEARER = [{ bearer: [] as string[] }];
