import type { Db } from './open.js';

export interface Migration {
  /** Strictly increasing along the list; stored in `PRAGMA user_version` once applied. */
  version: number;
  name: string;
  up(db: Db): void;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Applies every migration newer than the file's `user_version`, each in its own
 * transaction together with the version bump, so a failing step leaves the file as the
 * previous step left it. Returns the versions applied.
 */
export function migrate(db: Db, migrations: readonly Migration[]): number[] {
  migrations.forEach((migration, index) => {
    const previous = index === 0 ? 0 : migrations[index - 1]!.version;
    if (!Number.isInteger(migration.version) || migration.version <= previous) {
      throw new MigrationError(`Migration list is out of order at "${migration.name}": version ${migration.version} follows ${previous}`);
    }
  });
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new MigrationError(
      `Database schema version ${current} is newer than this build knows (${latest}); upgrade Panguard before opening this file`,
    );
  }
  const pending = migrations.filter((m) => m.version > current);
  if (pending.length === 0) return [];
  // Index builds and fills over millions of rows sort through temporary storage: on disk, so
  // a migration's memory stays bounded (the serving connection keeps it in memory, open.ts).
  const tempStore = db.pragma('temp_store', { simple: true }) as number;
  db.pragma('temp_store = FILE');
  try {
    return applyAll(db, pending);
  } finally {
    db.pragma(`temp_store = ${tempStore}`);
  }
}

function applyAll(db: Db, pending: readonly Migration[]): number[] {
  const applied: number[] = [];
  for (const migration of pending) {
    const step = db.transaction(() => {
      migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    });
    try {
      step();
    } catch (error) {
      throw new MigrationError(`Migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`);
    }
    applied.push(migration.version);
  }
  return applied;
}
