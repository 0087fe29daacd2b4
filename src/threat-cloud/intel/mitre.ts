import { readFileSync } from 'node:fs';

export interface MitreTechnique {
  id: string;
  name: string;
  /** Tactic names as the ATT&CK table lists them; the first is the primary one. */
  tactics: readonly string[];
}

interface MitreTable {
  source: string;
  license: string;
  techniques: MitreTechnique[];
}

/**
 * MITRE ATT&CK Enterprise, reduced to id, name and tactics, as MITRE publishes it (the file
 * keeps its source and licence notice). Read relative to this module: the build copies data
 * files into dist/ beside the compiled code (src/build/copy-assets.mjs).
 */
const TABLE_FILE = new URL('../data/mitre-attack-enterprise.json', import.meta.url);

/**
 * Read-only lookup over the bundled ATT&CK Enterprise table. The file is read on the first
 * lookup, not when the app is built: only the heatmap and campaign answers need it.
 */
export function createMitreCatalog() {
  let byId: Map<string, MitreTechnique> | null = null;
  const techniques = (): Map<string, MitreTechnique> => {
    if (!byId) {
      const table = JSON.parse(readFileSync(TABLE_FILE, 'utf8')) as MitreTable;
      byId = new Map(table.techniques.map((technique) => [technique.id, technique]));
    }
    return byId;
  };
  return {
    get(id: string): MitreTechnique | undefined {
      return techniques().get(id.toUpperCase());
    },
    /** The technique's name, or the id itself when the table does not know it. */
    nameOf(id: string): string {
      return techniques().get(id.toUpperCase())?.name ?? id;
    },
  };
}
export type MitreCatalog = ReturnType<typeof createMitreCatalog>;
