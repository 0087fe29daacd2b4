import type { Db } from '../src/shared/db/open.js';

/**
 * The machinery of the query-plan tests (no request may stall the process): which
 * SQL a factory prepares, its plan, and what a plan must not do on a table that grows with use.
 */

export interface RecordedSql {
  /** Every text handed to `db.prepare`, in first-seen order. */
  prepared: Set<string>;
  /** Every text handed to `db.exec` (several statements at once, never parameterised). */
  executed: Set<string>;
}

/** Every SQL text the factories prepare or execute, recorded through a thin wrapper of the real database. */
export function recordSql(db: Db): { db: Db } & RecordedSql {
  const prepared = new Set<string>();
  const executed = new Set<string>();
  const recording = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'prepare') {
        return (source: string) => {
          prepared.add(source);
          return target.prepare(source);
        };
      }
      if (property === 'exec') {
        return (source: string) => {
          executed.add(source);
          return target.exec(source);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: recording, prepared, executed };
}

/** Every subset of a list: the filter combinations a list route accepts. */
export function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((all, item) => [...all, ...all.map((subset) => [...subset, item])], [[]]);
}

export interface PlanNode {
  id: number;
  parent: number;
  detail: string;
}

/** The plan of a statement, every parameter bound to null (the plan does not depend on values). */
export function planOf(db: Db, source: string): PlanNode[] {
  const named = Object.fromEntries([...source.matchAll(/[@:$](\w+)/g)].map((m) => [m[1], null]));
  const positional = (source.match(/\?/g) ?? []).map(() => null);
  const explain = db.prepare(`EXPLAIN QUERY PLAN ${source}`);
  return (Object.keys(named).length > 0 ? explain.all(named) : explain.all(...positional)) as PlanNode[];
}

/** The rules for one set of large tables (those whose rows a plan may only reach through an index). */
export function planRules(large: readonly string[]) {
  /** The table a plan line reads, resolving an alias (`SCAN a USING INDEX …` for `agents a`). */
  function tableOf(source: string, detail: string): string {
    const name = detail.split(' ')[1] ?? '';
    if (large.includes(name)) return name;
    return new RegExp(`\\b(\\w+)\\s+(?:AS\\s+)?${name}\\b(?!\\s*\\.)`, 'i').exec(source)?.[1] ?? name;
  }

  /**
   * What a plan must not do on a large table: scan it without an index; walk a whole index
   * with no LIMIT to stop the walk (or skip-scan one); or sort its rows (a temp B-tree next to
   * the table's read in the plan tree). Sorting a subquery's result is not sorting a table: the
   * subquery's own reads are checked like any other.
   */
  function violations(source: string, plan: PlanNode[]): string[] {
    const readsLarge = (node: PlanNode) => /^(SCAN|SEARCH) /.test(node.detail) && large.includes(tableOf(source, node.detail));
    // A node's reads: its own and those of its children, not crossing into subqueries.
    const reads = (node: PlanNode): boolean =>
      readsLarge(node) || (!/SUBQUERY|CO-ROUTINE|MATERIALIZE/.test(node.detail) && plan.some((child) => child.parent === node.id && reads(child)));
    const found: string[] = [];
    for (const node of plan) {
      // A skip-scan steps through every distinct value of the index's first column.
      if (readsLarge(node) && /\(ANY\(/.test(node.detail)) found.push(`skip-scan: ${node.detail}`);
      if (readsLarge(node) && node.detail.startsWith('SCAN ')) {
        if (!/ USING (COVERING )?INDEX /.test(node.detail)) found.push(`full scan: ${node.detail}`);
        else if (!/\bLIMIT\b/i.test(source)) found.push(`index walk without LIMIT: ${node.detail}`);
      }
      if (/TEMP B-TREE/.test(node.detail) && plan.some((other) => other.parent === node.parent && other !== node && reads(other))) {
        found.push(`sort of a large table's rows: ${node.detail}`);
      }
    }
    return found;
  }

  return { tableOf, violations };
}
