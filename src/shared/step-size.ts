/**
 * The size of a background job's next step, so each step holds the (synchronous) database and
 * event loop for about `budgetMs`: from a running estimate of what an item costs, growing at
 * most twofold per step and only after a full step (a short last step says little about the
 * next range, and a size grown on cheap rows must not meet expensive ones in full).
 */
export function stepSize(options: { initial: number; min: number; max: number; budgetMs: number }) {
  let size = options.initial;
  let perItemMs: number | null = null;
  return {
    get size(): number {
      return size;
    },
    took(ms: number, items: number): void {
      const cost = Math.max(ms, 0.01) / Math.max(items, 1);
      // A slower step counts at once; a faster one only halfway, so noise does not inflate steps.
      perItemMs = perItemMs === null || cost > perItemMs ? cost : (perItemMs + cost) / 2;
      const fitting = Math.floor(options.budgetMs / perItemMs);
      const grown = items >= size ? Math.min(fitting, size * 2) : Math.min(fitting, size);
      size = Math.max(options.min, Math.min(options.max, grown));
    },
  };
}
