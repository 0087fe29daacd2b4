import type { Storage } from '../../shared/db/storage.js';
import { notFound } from '../../shared/errors.js';
import type { RuleBody } from '../schemas.js';
import type { AuditActor, AuditStore } from '../stores/audit.js';
import type { RuleStore } from '../stores/rules.js';
import { TC_CHANGES } from './ioc-merge.js';

/** Detection rules for agents, each change audited in its own durable transaction (a rule change takes a change position). */
export function createRuleService(deps: { storage: Storage; rules: RuleStore; audit: AuditStore }) {
  const { storage, rules, audit } = deps;
  const ruleChange = { durable: true, locks: [TC_CHANGES] };

  return {
    /** Creates or replaces a rule; `created` tells which (a deleted id comes back as created). */
    async upsert(input: RuleBody, actor: AuditActor) {
      const { rule, created } = await storage.transaction(ruleChange, async (tx) => {
        const result = await rules.upsert(tx, input);
        await audit.record(tx, {
          action: result.created ? 'create' : 'update',
          resource: `rule:${result.rule.id}`,
          details: { name: result.rule.name, bytes: Buffer.byteLength(result.rule.content) },
          ...actor,
        });
        return result;
      });
      return { rule: { id: rule.id, name: rule.name, createdAt: rule.createdAt, updatedAt: rule.updatedAt }, created };
    },

    /** 404 when no live rule has this id. */
    async remove(id: string, actor: AuditActor) {
      const removed = await storage.transaction(ruleChange, async (tx) => {
        const done = await rules.remove(tx, id);
        if (done) await audit.record(tx, { action: 'delete', resource: `rule:${id}`, details: {}, ...actor });
        return done;
      });
      if (!removed) throw notFound('Rule not found');
      return { id, removed: true as const };
    },
  };
}
export type RuleService = ReturnType<typeof createRuleService>;
