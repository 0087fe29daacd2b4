import { parseArgs } from 'node:util';
import { systemClock } from '../../shared/clock.js';
import { closeDatabase } from '../../shared/db/open.js';
import { seedIocs } from '../../threat-cloud/seed.js';
import { cliConfig, CommandError, openMigratedDatabase, UsageError, type CliCommand } from '../context.js';

const MAX_IOCS = 50_000_000;

export const seedCommand: CliCommand = {
  name: 'seed',
  summary: 'bulk-load synthetic Threat Cloud IoCs (11.0.0.0/8 addresses and seed-*.example.net) for load tests',
  usage: `panguard seed --iocs <count 1-${MAX_IOCS}>`,
  async run(args, io) {
    let values: { iocs?: string };
    try {
      ({ values } = parseArgs({ args, options: { iocs: { type: 'string' } }, strict: true, allowPositionals: false }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const count = values.iocs !== undefined && /^\d+$/.test(values.iocs) ? Number(values.iocs) : Number.NaN;
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_IOCS) {
      throw new UsageError(`--iocs must be a whole number from 1 to ${MAX_IOCS}`);
    }
    const config = cliConfig(io);
    if (config.database.url !== undefined) {
      // Seeding the unused SQLite file beside a PostgreSQL deployment would report rows the service never sees.
      throw new CommandError(
        'DATABASE_URL points at PostgreSQL: panguard seed bulk-loads the SQLite file only. ' +
          'To load-test PostgreSQL, seed a SQLite data folder (without DATABASE_URL) and copy it with ' +
          'panguard migrate-data --from <DATA_DIR>/panguard.db --to "$DATABASE_URL" (as npm run bench -- stall --engine=postgres does)',
      );
    }
    const db = openMigratedDatabase(config);
    try {
      const started = systemClock.now();
      const inserted = seedIocs(db, { count, now: started });
      io.out(`seeded ${inserted} IoCs in ${((systemClock.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      closeDatabase(db);
    }
  },
};
