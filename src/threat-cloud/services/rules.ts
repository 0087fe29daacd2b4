import { durableTransaction } from '../../shared/db/durable.js';
import type { Db } from '../../shared/db/open.js';
import { notFound } from '../../shared/errors.js';
import type { RuleBody } from '../schemas.js';
import type { AuditActor, AuditStore } from '../stores/audit.js';
import type { RuleStore } from '../stores/rules.js';

/** Detection rules for agents, each change audited in its own durable transaction. */
export function createRuleService(deps: { db: Db; rules: RuleStore; audit: AuditStore }) {
  const { db, rules, audit } = deps;

  return {
    /** Creates or replaces a rule; `created` tells which (a deleted id comes back as created). */
    upsert(input: RuleBody, actor: AuditActor) {
      const { rule, created } = durableTransaction(db, () => {
        const result = rules.upsert(input);
        audit.record({
          action: result.created ? 'create' : 'update',
          resource: `rule:${result.rule.id}`,
          details: { name: result.rule.name, bytes: Buffer.byteLength(result.rule.content) },
          ...actor,
        });
        return result;
      })();
      return { rule: { id: rule.id, name: rule.name, createdAt: rule.createdAt, updatedAt: rule.updatedAt }, created };
    },

    /** 404 when no live rule has this id. */
    remove(id: string, actor: AuditActor) {
      const removed = durableTransaction(db, () => {
        const done = rules.remove(id);
        if (done) audit.record({ action: 'delete', resource: `rule:${id}`, details: {}, ...actor });
        return done;
      })();
      if (!removed) throw notFound('Rule not found');
      return { id, removed: true as const };
    },
  };
}
export type RuleService = ReturnType<typeof createRuleService>;
