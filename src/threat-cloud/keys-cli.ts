import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { derivedPaths, loadConfig } from '../config.js';
import { MIGRATIONS } from '../migrations.js';
import { createApiKeyStore, KEY_SCOPES, type KeyScope } from '../shared/api-keys.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { migrate } from '../shared/db/migrate.js';
import { closeDatabase, openDatabase, type Db } from '../shared/db/open.js';
import { isTier, TIERS } from '../shared/tiers.js';
import { createAuditStore } from './stores/audit.js';
import { durableTransaction } from '../shared/db/durable.js';

const USAGE = `usage: npm run keys -- <command>
  create [--name <name>] [--tier <${TIERS.join('|')}>] [--scopes read,write,admin]
         make an operator key (default: tier pro, scopes read,write); the key is printed once
  list   operator and bootstrap keys that are not revoked (masked)
  revoke <key id>
         revoke any key; effective on its next request`;

export interface CliResult {
  code: number;
  out: string;
}

/** The operator's offline key administration, against the database the server uses. */
export function runKeysCommand(db: Db, clock: Clock, argv: string[]): CliResult {
  const keys = createApiKeyStore(db, clock);
  const audit = createAuditStore(db, clock);
  const [command, ...rest] = argv;
  const fail = (message: string): CliResult => ({ code: 2, out: `${message}\n${USAGE}\n` });
  switch (command) {
    case 'create': {
      let values: { name?: string; tier?: string; scopes?: string };
      try {
        ({ values } = parseArgs({ args: rest, options: { name: { type: 'string' }, tier: { type: 'string' }, scopes: { type: 'string' } } }));
      } catch (error) {
        return fail((error as Error).message);
      }
      const tier = values.tier ?? 'pro';
      if (!isTier(tier)) return fail(`--tier must be one of ${TIERS.join(', ')}`);
      const scopes = (values.scopes ?? 'read,write').split(',').map((scope) => scope.trim()).filter(Boolean);
      if (scopes.length === 0 || !scopes.every((scope) => (KEY_SCOPES as readonly string[]).includes(scope))) {
        return fail(`--scopes must be a comma-separated list of ${KEY_SCOPES.join(', ')}`);
      }
      const name = values.name ?? 'operator key (CLI)';
      if (name.length < 1 || name.length > 100) return fail('--name must be 1-100 characters');
      const { record, key } = durableTransaction(db, () => {
        const created = keys.create({ name, origin: 'operator', tier, scopes: scopes as KeyScope[] });
        audit.record({ action: 'create', resource: `api-key:${created.record.id}`, details: { name, tier, scopes, key: created.record.masked, via: 'cli' }, apiKey: null, ip: null });
        return created;
      })();
      return { code: 0, out: `created ${record.id} (${record.tier}; ${record.scopes.join(',')})\nkey (shown once): ${key}\n` };
    }
    case 'list': {
      const lines = keys.listServiceKeys().map((k) => `${k.id}  ${k.masked}  ${k.origin}  ${k.tier}  ${k.scopes.join(',')}  ${k.createdAt}  ${k.name}`);
      return { code: 0, out: `${lines.length > 0 ? lines.join('\n') : '(no operator or bootstrap keys)'}\n` };
    }
    case 'revoke': {
      const id = rest[0];
      if (!id) return fail('revoke needs a key id');
      const revoked = durableTransaction(db, () => {
        const done = keys.revoke(id);
        if (done) audit.record({ action: 'delete', resource: `api-key:${id}`, details: { via: 'cli' }, apiKey: null, ip: null });
        return done;
      })();
      return revoked ? { code: 0, out: `revoked ${id}\n` } : { code: 1, out: `no live key with id ${id}\n` };
    }
    default:
      return fail(command ? `unknown command: ${command}` : 'a command is required');
  }
}

function main(argv: string[]): void {
  const { databasePath } = derivedPaths(loadConfig());
  const db = openDatabase(databasePath);
  try {
    migrate(db, MIGRATIONS);
    const result = runKeysCommand(db, systemClock, argv);
    (result.code === 0 ? process.stdout : process.stderr).write(result.out);
    process.exitCode = result.code;
  } finally {
    closeDatabase(db);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
