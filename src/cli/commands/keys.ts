import { parseArgs } from 'node:util';
import { createApiKeyStore, KEY_SCOPES, type KeyScope } from '../../shared/api-keys.js';
import { systemClock } from '../../shared/clock.js';
import { AppError } from '../../shared/errors.js';
import { isTier, TIERS } from '../../shared/tiers.js';
import { createOperatorKeyService } from '../../threat-cloud/services/operator-keys.js';
import { createAuditStore } from '../../threat-cloud/stores/audit.js';
import { cliConfig, CommandError, openMigratedStorage, UsageError, type CliCommand, type CliIo } from '../context.js';

const MAX_NAME = 100;

/** A command-line mistake, pointing at the full usage. */
const usageError = (message: string) => new UsageError(`${message}; run "panguard keys --help"`);

/** What `keys create` asks for, checked before the database is opened. */
function createInput(args: string[]) {
  let values: { name?: string; tier?: string; scopes?: string };
  try {
    ({ values } = parseArgs({ args, options: { name: { type: 'string' }, tier: { type: 'string' }, scopes: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw usageError((error as Error).message);
  }
  const tier = values.tier ?? 'pro';
  if (!isTier(tier)) throw usageError(`--tier must be one of ${TIERS.join(', ')}`);
  const scopes = [...new Set((values.scopes ?? 'read,write').split(',').map((scope) => scope.trim()).filter(Boolean))];
  if (scopes.length === 0 || !scopes.every((scope): scope is KeyScope => (KEY_SCOPES as readonly string[]).includes(scope))) {
    throw usageError(`--scopes must be a comma-separated list of ${KEY_SCOPES.join(', ')}`);
  }
  const name = values.name ?? 'operator key (CLI)';
  if (name.length < 1 || name.length > MAX_NAME) throw usageError(`--name must be 1-${MAX_NAME} characters`);
  return { name, tier, scopes };
}

/** Runs `work` with the operator-key service over the server's database (migrated first); closes it after. */
async function withKeyService<T>(io: CliIo, work: (service: ReturnType<typeof createOperatorKeyService>) => Promise<T> | T): Promise<T> {
  const storage = await openMigratedStorage(cliConfig(io));
  try {
    return await work(createOperatorKeyService({ storage, keys: createApiKeyStore(storage, systemClock), audit: createAuditStore(storage, systemClock) }));
  } finally {
    // Waits for work in flight, then closes the database.
    await storage.close();
  }
}

/**
 * Threat Cloud operator keys without the API, through the same service (and audit entries)
 * as `POST/DELETE /api/admin/keys`.
 */
export const keysCommand: CliCommand = {
  name: 'keys',
  summary: 'create, list or revoke Threat Cloud operator keys (a new key is printed once)',
  usage: `panguard keys create [--name N] [--tier ${TIERS.join('|')}] [--scopes read,write,admin] | keys list | keys revoke <key id>`,
  async run(args, io) {
    const [command, ...rest] = args;
    switch (command) {
      case 'create': {
        const input = createInput(rest);
        const created = await withKeyService(io, (keys) => keys.create(input, { via: 'cli' }));
        io.out(`created ${created.id} (${created.tier}; ${created.scopes.join(',')})\nkey (shown once): ${created.key}`);
        return;
      }
      case 'list': {
        if (rest.length > 0) throw usageError(`unexpected argument: ${rest[0]}`);
        const lines = (await withKeyService(io, (keys) => keys.list())).map((k) => `${k.id}  ${k.masked}  ${k.origin}  ${k.tier}  ${k.scopes.join(',')}  ${k.createdAt}  ${k.name}`);
        io.out(lines.length > 0 ? lines.join('\n') : '(no operator or bootstrap keys)');
        return;
      }
      case 'revoke': {
        const [id, ...extra] = rest;
        if (!id) throw usageError('revoke needs a key id');
        if (extra.length > 0) throw usageError(`unexpected argument: ${extra[0]}`);
        try {
          await withKeyService(io, (keys) => keys.revoke(id, { via: 'cli' }));
        } catch (error) {
          if (error instanceof AppError && error.statusCode === 404) throw new CommandError(`no live key with id ${id}`);
          throw error;
        }
        io.out(`revoked ${id}`);
        return;
      }
      default:
        throw usageError(command ? `unknown command: ${command}` : 'a command is required');
    }
  },
};
