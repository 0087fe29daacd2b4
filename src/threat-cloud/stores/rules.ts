import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Transaction, type Storage } from '../../shared/db/storage.js';
import type { IocStore } from './iocs.js';

export interface Rule {
  id: string;
  name: string;
  content: string;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  changeSeq: number;
}

interface RuleRow {
  id: string;
  name: string;
  content: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  change_seq: number;
}

const toRule = (row: RuleRow): Rule => ({
  id: row.id,
  name: row.name,
  content: row.content,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  deletedAt: row.deleted_at,
  changeSeq: row.change_seq,
});

type RuleWrite = { id: string; name: string; content: string; at: string; seq: number };

const RULE_STATEMENTS = {
  byId: defineStatement<[id: string], RuleRow>(`SELECT * FROM tc_rules WHERE id = ?`),
  insert: defineStatement<RuleWrite>(
    `INSERT INTO tc_rules (id, name, content, created_at, updated_at, deleted_at, change_seq) VALUES (@id, @name, @content, @at, @at, NULL, @seq)`,
  ),
  update: defineStatement<RuleWrite>(
    `UPDATE tc_rules SET name = @name, content = @content, updated_at = @at, deleted_at = NULL, change_seq = @seq WHERE id = @id`,
  ),
  revive: defineStatement<RuleWrite>(
    `UPDATE tc_rules SET name = @name, content = @content, created_at = @at, updated_at = @at, deleted_at = NULL, change_seq = @seq WHERE id = @id`,
  ),
  remove: defineStatement<{ id: string; at: string; seq: number }>(
    `UPDATE tc_rules SET deleted_at = @at, updated_at = @at, change_seq = @seq WHERE id = @id AND deleted_at IS NULL`,
  ),
  live: defineStatement<void, RuleRow>(`SELECT * FROM tc_rules WHERE deleted_at IS NULL ORDER BY id`),
  changedAfter: defineStatement<[seq: number], RuleRow>(`SELECT * FROM tc_rules WHERE change_seq > ? ORDER BY change_seq`),
};

/**
 * Detection rules for agents. Deleting leaves a tombstone in the change sequence so the
 * next agent update can tell agents to drop the rule; re-creating a deleted id revives it.
 * Writes take a change position: they run in a transaction holding TC_CHANGES (ioc-merge.ts).
 */
export function createRuleStore(storage: Storage, clock: Clock, iocs: IocStore) {
  const s = RULE_STATEMENTS;

  return {
    /** Creates or replaces a rule; returns whether it was created. */
    async upsert(tx: Transaction, input: { id: string; name: string; content: string }): Promise<{ rule: Rule; created: boolean }> {
      const nowIso = toIso(clock.now());
      const seq = await iocs.nextSeq(tx, nowIso);
      const existing = await tx.get(s.byId, [input.id]);
      const write = { id: input.id, name: input.name, content: input.content, at: nowIso, seq };
      if (!existing) await tx.run(s.insert, write);
      else if (existing.deleted_at) await tx.run(s.revive, write);
      else await tx.run(s.update, write);
      return { rule: toRule((await tx.get(s.byId, [input.id]))!), created: !existing || existing.deleted_at !== null };
    },
    /** False when no live rule has this id. */
    async remove(tx: Transaction, id: string): Promise<boolean> {
      const existing = await tx.get(s.byId, [id]);
      if (!existing || existing.deleted_at) return false;
      const nowIso = toIso(clock.now());
      return (await tx.run(s.remove, { id, at: nowIso, seq: await iocs.nextSeq(tx, nowIso) })).changes === 1;
    },
    async live(): Promise<Rule[]> {
      return (await storage.all(s.live)).map(toRule);
    },
    async changedAfter(seq: number): Promise<Rule[]> {
      return (await storage.all(s.changedAfter, [seq])).map(toRule);
    },
  };
}
export type RuleStore = ReturnType<typeof createRuleStore>;
