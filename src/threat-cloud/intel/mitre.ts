import { MITRE_TECHNIQUES } from './mitre-data.js';

export interface MitreTechnique {
  id: string;
  name: string;
  /** Tactic names as the ATT&CK table lists them; the first is the primary one. */
  tactics: readonly string[];
}

/** Read-only lookup over the bundled ATT&CK Enterprise table (built once per app). */
export function createMitreCatalog() {
  const byId = new Map<string, MitreTechnique>(MITRE_TECHNIQUES.map(([id, name, tactics]) => [id, { id, name, tactics }]));
  return {
    get(id: string): MitreTechnique | undefined {
      return byId.get(id.toUpperCase());
    },
    /** The technique's name, or the id itself when the table does not know it. */
    nameOf(id: string): string {
      return byId.get(id.toUpperCase())?.name ?? id;
    },
  };
}
export type MitreCatalog = ReturnType<typeof createMitreCatalog>;
