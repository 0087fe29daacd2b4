import type { Clock } from '../../../shared/clock.js';
import { toIso } from '../../../shared/clock.js';
import { defineStatement, type Queryable } from '../../../shared/db/storage.js';
import type { MitreCatalog } from '../mitre.js';
import { PERIOD_MS, type Period } from '../periods.js';
import { counted } from './timeseries.js';

export type Intensity = 'critical' | 'high' | 'medium' | 'low';

export interface Heatmap<P extends Period = Period> {
  period: P;
  techniques: Array<{ id: string; name: string | null; tactic: string | null; tactics: string[]; count: number; intensity: Intensity }>;
  tactics: Record<string, number>;
}

/** Intensity relative to the top count: ≥ 75 % critical, ≥ 50 % high, ≥ 25 % medium. */
export function intensityOf(count: number, top: number): Intensity {
  const share = top === 0 ? 0 : count / top;
  if (share >= 0.75) return 'critical';
  if (share >= 0.5) return 'high';
  return share >= 0.25 ? 'medium' : 'low';
}

/**
 * IoCs per ATT&CK technique among those seen in the period, from the trigger-kept
 * `ioc_techniques` index. Ids the bundled table does not know are still listed, with
 * `name: null` and no tactic, so a typo or a newer ATT&CK id is visible instead of lost.
 */
// The period's range of ioc_techniques drives (INDEXED BY, CROSS JOIN fixes the loop order)
// and each IoC is one primary-key probe, whatever the statistics say; without it SQLite may
// walk every technique row to spare itself the GROUP BY sort.
const TECHNIQUE_COUNTS = defineStatement<{ from: string }, { id: string; n: number }>(
  `SELECT t.technique_id AS id, count(*) AS n FROM ioc_techniques t INDEXED BY ioc_techniques_last_seen CROSS JOIN iocs i ON i.id = t.ioc_id
   WHERE t.last_seen >= @from AND ${counted('i.')}
   GROUP BY t.technique_id`,
);

export function createHeatmapQuery(storage: Queryable, clock: Clock, mitre: MitreCatalog) {
  return async <P extends Period>(query: { period: P }): Promise<Heatmap<P>> => {
    const rows = (await storage.all(TECHNIQUE_COUNTS, { from: toIso(clock.now() - PERIOD_MS[query.period]) }))
      .map((row) => ({ id: row.id, technique: mitre.get(row.id), count: row.n }))
      .sort((a, b) => b.count - a.count || a.id.localeCompare(b.id));
    const top = rows[0]?.count ?? 0;
    const tactics: Record<string, number> = {};
    for (const { technique, count } of rows) {
      for (const tactic of technique?.tactics ?? []) tactics[tactic] = (tactics[tactic] ?? 0) + count;
    }
    return {
      period: query.period,
      techniques: rows.map(({ id, technique, count }) => ({
        id: technique?.id ?? id,
        name: technique?.name ?? null,
        tactic: technique?.tactics[0] ?? null,
        tactics: [...(technique?.tactics ?? [])],
        count,
        intensity: intensityOf(count, top),
      })),
      tactics,
    };
  };
}
