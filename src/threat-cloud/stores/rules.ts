import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
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

/**
 * Detection rules for agents. Deleting leaves a tombstone in the change sequence so the
 * next agent update can tell agents to drop the rule; re-creating a deleted id revives it.
 */
export function createRuleStore(db: Db, clock: Clock, iocs: IocStore) {
  const byId = db.prepare<[string], RuleRow>(`SELECT * FROM tc_rules WHERE id = ?`);
  type RuleWrite = { id: string; name: string; content: string; at: string; seq: number };
  const insert = db.prepare<RuleWrite>(
    `INSERT INTO tc_rules (id, name, content, created_at, updated_at, deleted_at, change_seq) VALUES (@id, @name, @content, @at, @at, NULL, @seq)`,
  );
  const update = db.prepare<RuleWrite>(
    `UPDATE tc_rules SET name = @name, content = @content, updated_at = @at, deleted_at = NULL, change_seq = @seq WHERE id = @id`,
  );
  const revive = db.prepare<RuleWrite>(
    `UPDATE tc_rules SET name = @name, content = @content, created_at = @at, updated_at = @at, deleted_at = NULL, change_seq = @seq WHERE id = @id`,
  );
  const remove = db.prepare<{ id: string; at: string; seq: number }>(
    `UPDATE tc_rules SET deleted_at = @at, updated_at = @at, change_seq = @seq WHERE id = @id AND deleted_at IS NULL`,
  );
  const live = db.prepare<[], RuleRow>(`SELECT * FROM tc_rules WHERE deleted_at IS NULL ORDER BY id`);
  const changedAfter = db.prepare<[number], RuleRow>(`SELECT * FROM tc_rules WHERE change_seq > ? ORDER BY change_seq`);

  return {
    /** Creates or replaces a rule; returns whether it was created. Call inside a transaction. */
    upsert(input: { id: string; name: string; content: string }): { rule: Rule; created: boolean } {
      const nowIso = toIso(clock.now());
      const seq = iocs.nextSeq(nowIso);
      const existing = byId.get(input.id);
      const write = { id: input.id, name: input.name, content: input.content, at: nowIso, seq };
      if (!existing) insert.run(write);
      else if (existing.deleted_at) revive.run(write);
      else update.run(write);
      return { rule: toRule(byId.get(input.id)!), created: !existing || existing.deleted_at !== null };
    },
    /** False when no live rule has this id. Call inside a transaction. */
    remove(id: string): boolean {
      const existing = byId.get(id);
      if (!existing || existing.deleted_at) return false;
      const nowIso = toIso(clock.now());
      return remove.run({ id, at: nowIso, seq: iocs.nextSeq(nowIso) }).changes === 1;
    },
    live(): Rule[] {
      return live.all().map(toRule);
    },
    changedAfter(seq: number): Rule[] {
      return changedAfter.all(seq).map(toRule);
    },
  };
}
export type RuleStore = ReturnType<typeof createRuleStore>;
