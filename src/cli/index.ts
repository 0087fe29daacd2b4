import { ConfigError } from '../config.js';
import { MigrationError } from '../shared/db/migrate.js';
import { adminCommand } from './commands/admin.js';
import { backupCommand } from './commands/backup.js';
import { keysCommand } from './commands/keys.js';
import { migrateCommand } from './commands/migrate.js';
import { migrateDataCommand } from './commands/migrate-data.js';
import { outboxCommand } from './commands/outbox.js';
import { seedCommand } from './commands/seed.js';
import { tokenCommand } from './commands/token.js';
import { CommandError, UsageError, type CliCommand, type CliIo } from './context.js';

export const COMMANDS: readonly CliCommand[] = [
  tokenCommand,
  backupCommand,
  migrateCommand,
  migrateDataCommand,
  adminCommand,
  keysCommand,
  seedCommand,
  outboxCommand,
];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'panguard: operator commands for the Panguard API server',
    '',
    'usage: panguard <command> [arguments]   (or: npm run panguard -- <command> …)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}\n  ${' '.repeat(width)}  ${c.usage}`),
    '',
    'The commands read the same configuration as the server (config/default.json,',
    'PANGUARD_CONFIG, environment variables such as DATA_DIR and DATABASE_PATH).',
  ].join('\n');
}

/** Runs one command line; returns the process exit code (0 ok, 1 failed, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`panguard: unknown command "${name}"; run "panguard --help" for the list`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.out(`${command.summary}\nusage: ${command.usage}`);
    return 0;
  }
  try {
    await command.run(args, io);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`panguard ${name}: ${error.message}`);
      return 2;
    }
    if (error instanceof CommandError || error instanceof ConfigError || error instanceof MigrationError) {
      io.err(`panguard ${name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
