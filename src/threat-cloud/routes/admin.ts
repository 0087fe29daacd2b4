import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { createdReplies, errorResponses, Envelope, ok, paged, pagedReplies, replies } from '../../shared/envelope.js';
import { notFound } from '../../shared/errors.js';
import type { ApiKeyRecord } from '../../shared/api-keys.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import { AuditItem, AuditQuery, CreatedKey, CreateKeyBody, IdParams, KeyInfo, RuleBody, RuleInfo, Stats } from '../schemas.js';
import { durableTransaction } from '../../shared/db/durable.js';

const keyInfo = (record: ApiKeyRecord) => ({
  id: record.id,
  prefix: record.prefix,
  masked: record.masked,
  name: record.name,
  origin: record.origin,
  tier: record.tier,
  scopes: record.scopes,
  createdAt: record.createdAt,
});

/** Operator key administration: only TC_ADMIN_TOKEN, never an API key. */
export function registerKeyAdminRoutes(app: App, context: ThreatCloudContext): void {
  const { db, keys, audit } = context;
  const adminRoute = { config: { rateLimit: false as const }, preValidation: context.adminGuard };

  app.post(
    '/api/admin/keys',
    {
      ...adminRoute,
      schema: { operationId: 'createOperatorKey', tags: ['admin'], summary: 'Create an operator API key (shown once)', security: BEARER, body: CreateKeyBody, response: createdReplies(CreatedKey) },
    },
    async (request, reply) => {
      const created = durableTransaction(db, () => {
        const result = keys.create({ name: request.body.name, origin: 'operator', tier: request.body.tier, scopes: request.body.scopes });
        audit.record({
          action: 'create',
          resource: `api-key:${result.record.id}`,
          details: { name: result.record.name, tier: result.record.tier, scopes: result.record.scopes, key: result.record.masked },
          apiKey: null,
          ip: request.ip,
        });
        return result;
      })();
      const { record, key } = created;
      return reply.code(201).send(ok({ id: record.id, key, prefix: record.prefix, name: record.name, tier: record.tier, scopes: record.scopes }));
    },
  );

  app.get(
    '/api/admin/keys',
    { ...adminRoute, schema: { operationId: 'listOperatorKeys', tags: ['admin'], summary: 'Operator and bootstrap keys that are not revoked', security: BEARER, response: replies(Type.Array(KeyInfo)) } },
    async () => ok(keys.listServiceKeys().map(keyInfo)),
  );

  app.delete(
    '/api/admin/keys/:id',
    {
      ...adminRoute,
      schema: {
        operationId: 'revokeOperatorKey',
        tags: ['admin'],
        summary: 'Revoke any API key; effective on its next request',
        security: BEARER,
        params: IdParams,
        response: replies(Type.Object({ id: Type.String(), revoked: Type.Literal(true) })),
      },
    },
    async (request) => {
      const revoked = durableTransaction(db, () => {
        const done = keys.revoke(request.params.id);
        if (done) audit.record({ action: 'delete', resource: `api-key:${request.params.id}`, details: {}, apiKey: null, ip: request.ip });
        return done;
      })();
      if (!revoked) throw notFound('API key not found');
      return ok({ id: request.params.id, revoked: true as const });
    },
  );
}

export function registerAdminRoutes(app: App, context: ThreatCloudContext): void {
  const { db, audit, rules, stats, queryAudit } = context;

  app.post(
    '/api/rules',
    {
      ...apiRoute(context, 'admin'),
      schema: {
        operationId: 'createRule',
        tags: ['rules'],
        summary: 'Create (201) or replace (200) a detection rule for agents',
        security: BEARER,
        body: RuleBody,
        response: { 200: Envelope(RuleInfo), 201: Envelope(RuleInfo), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { rule, created } = durableTransaction(db, () => {
        const result = rules.upsert(request.body);
        audit.record({
          action: result.created ? 'create' : 'update',
          resource: `rule:${result.rule.id}`,
          details: { name: result.rule.name, bytes: Buffer.byteLength(result.rule.content) },
          ...actor(request),
        });
        return result;
      })();
      return reply.code(created ? 201 : 200).send(ok({ id: rule.id, name: rule.name, createdAt: rule.createdAt, updatedAt: rule.updatedAt }));
    },
  );

  app.delete(
    '/api/rules/:id',
    {
      ...apiRoute(context, 'admin'),
      schema: { operationId: 'deleteRule', tags: ['rules'], summary: 'Remove a detection rule', security: BEARER, params: IdParams, response: replies(Type.Object({ id: Type.String(), removed: Type.Literal(true) })) },
    },
    async (request) => {
      const removed = durableTransaction(db, () => {
        const done = rules.remove(request.params.id);
        if (done) audit.record({ action: 'delete', resource: `rule:${request.params.id}`, details: {}, ...actor(request) });
        return done;
      })();
      if (!removed) throw notFound('Rule not found');
      return ok({ id: request.params.id, removed: true as const });
    },
  );

  app.get(
    '/api/audit-log',
    {
      ...apiRoute(context, 'admin'),
      schema: { operationId: 'listAuditLog', tags: ['audit'], summary: 'Audit trail, newest first', security: BEARER, querystring: AuditQuery, response: pagedReplies(AuditItem) },
    },
    async (request) => {
      const { page = 1, limit = 50, action, since } = request.query;
      // Pending query audits are written first so the trail is complete up to this request.
      queryAudit.flush();
      const { items, total } = audit.list({ ...(action ? { action } : {}), ...(since ? { since } : {}), page, limit });
      return paged(items, total, page, limit);
    },
  );

  app.get(
    '/api/stats',
    { ...apiRoute(context, 'read'), schema: { operationId: 'getStats', tags: ['stats'], summary: 'Totals and the last 24 hours', security: BEARER, response: replies(Stats) } },
    async (request) => {
      queryAudit.push({ resource: 'stats', details: {}, ...actor(request) });
      return ok(stats.read());
    },
  );
}
