import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyScope } from '../shared/api-keys.js';
import type { AnalyticsService } from './intel/services/analytics.js';
import type { CampaignService } from './intel/services/campaigns.js';
import type { AgentUpdateService } from './services/agent-update.js';
import type { AuditLogService } from './services/audit-log.js';
import type { FeedService } from './services/feeds.js';
import type { IocsService } from './services/iocs.js';
import type { OperatorKeyService } from './services/operator-keys.js';
import type { RuleService } from './services/rules.js';
import type { StatsService } from './services/stats.js';
import type { TrapIntelService } from './services/trap-intel.js';
import type { AuditActor } from './stores/audit.js';

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Everything the Threat Cloud's route modules are handed (no globals): services and the
 * guards, never the database or a store. Each route module takes only the part it uses.
 */
export interface ThreatCloudContext {
  iocs: IocsService;
  trapIntel: TrapIntelService;
  feeds: FeedService;
  agentUpdate: AgentUpdateService;
  operatorKeys: OperatorKeyService;
  rules: RuleService;
  auditLog: AuditLogService;
  stats: StatsService;
  campaigns: CampaignService;
  analytics: AnalyticsService;
  apiKeyGuard: Guard;
  adminGuard: Guard;
  /** The lower per-key limit of IoC searches (`since`, `q`), checked after the key guard. */
  searchGuard: Guard;
}

/** Route options of an `/api/*` route: its scope, and the key guard instead of the global per-IP limiter. */
export function apiRoute(context: Pick<ThreatCloudContext, 'apiKeyGuard'>, scope: KeyScope) {
  return {
    config: { rateLimit: false as const, tcScope: scope },
    preValidation: context.apiKeyGuard,
  };
}

/** Who did it, as the audit log shows it: the masked key (first 4 + last 4) and the client IP. */
export function actor(request: FastifyRequest): AuditActor & { ip: string } {
  return { apiKey: request.tcKey?.masked ?? null, ip: request.ip };
}

export { BEARER } from '../shared/openapi-responses.js';
