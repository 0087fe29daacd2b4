import type { Db } from './open.js';

export interface Migration {
  /** 1, 2, 3 … in order; stored in `PRAGMA user_version` once applied. */
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
    if (migration.version !== index + 1) {
      throw new MigrationError(`Migration list is out of order at "${migration.name}": expected version ${index + 1}, got ${migration.version}`);
    }
  });
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new MigrationError(
      `Database schema version ${current} is newer than this build knows (${migrations.length}); upgrade Panguard before opening this file`,
    );
  }
  const applied: number[] = [];
  for (const migration of migrations.slice(current)) {
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
