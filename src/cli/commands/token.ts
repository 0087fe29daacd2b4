import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config.js';
import { readClusterSecret } from '../../shared/cluster-secrets.js';
import { SECRETS_FILE } from '../../shared/secrets.js';
import { cliConfig, CommandError, openMigratedStorage, UsageError, type CliCommand } from '../context.js';

const TOKENS = {
  manager: { secret: 'managerAuthToken', env: 'MANAGER_AUTH_TOKEN', configured: (c: Config) => c.manager.authToken },
  'tc-admin': { secret: 'tcAdminToken', env: 'TC_ADMIN_TOKEN', configured: (c: Config) => c.threatCloud.adminToken },
} as const;

export const tokenCommand: CliCommand = {
  name: 'token',
  summary: 'print the Manager token or the Threat Cloud admin token',
  usage: 'panguard token show [manager|tc-admin]   (default: manager)',
  async run(args, io) {
    const [verb, which = 'manager', ...rest] = args;
    if (verb !== 'show' || rest.length > 0) throw new UsageError('usage: panguard token show [manager|tc-admin]');
    if (!(which in TOKENS)) throw new UsageError(`unknown token "${which}"; choose manager or tc-admin`);
    const token = TOKENS[which as keyof typeof TOKENS];
    const config = cliConfig(io);
    const configured = token.configured(config);
    if (configured) {
      io.out(configured);
      return;
    }
    if (config.database.url !== undefined) {
      // On PostgreSQL the replicas keep generated secrets in the database, not in a file.
      const storage = await openMigratedStorage(config);
      try {
        const value = await readClusterSecret(storage, token.secret);
        if (!value) throw new CommandError(`no ${token.env} configured and none generated in the database yet; start the server once to generate it`);
        io.out(value);
      } finally {
        await storage.close();
      }
      return;
    }
    const file = path.join(config.dataDir, SECRETS_FILE);
    if (!existsSync(file)) throw new CommandError(`no ${token.env} configured and no ${file}; start the server once to generate it`);
    const value = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)[token.secret];
    if (!value) throw new CommandError(`${file} holds no ${token.secret}`);
    io.out(value);
  },
};
