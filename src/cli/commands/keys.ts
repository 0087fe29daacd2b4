import { runKeysCommand } from '../../threat-cloud/keys-cli.js';
import { systemClock } from '../../shared/clock.js';
import { closeDatabase } from '../../shared/db/open.js';
import { cliConfig, CommandError, openMigratedDatabase, UsageError, type CliCommand } from '../context.js';

export const keysCommand: CliCommand = {
  name: 'keys',
  summary: 'create, list or revoke Threat Cloud operator keys (a new key is printed once)',
  usage: 'panguard keys create [--name N] [--tier T] [--scopes read,write,admin] | keys list | keys revoke <key id>',
  async run(args, io) {
    const db = openMigratedDatabase(cliConfig(io));
    let result;
    try {
      result = runKeysCommand(db, systemClock, args);
    } finally {
      closeDatabase(db);
    }
    const text = result.out.trimEnd();
    if (result.code === 0) {
      io.out(text);
      return;
    }
    // keys-cli follows a usage mistake with its full usage text; one line here, --help has the rest.
    const message = text.split('\n')[0] ?? 'failed';
    if (result.code === 2) throw new UsageError(`${message}; run "panguard keys --help"`);
    throw new CommandError(message);
  },
};
