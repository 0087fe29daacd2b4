import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { copyIntoTarget } from '../src/cli/data-copy.js';
import { seededRowCounts } from '../src/cli/postgres-target.js';
import { POSTGRES_MIGRATIONS } from '../src/migrations/postgres/index.js';
import { migratePostgres } from '../src/shared/db/migrate-postgres.js';
import type { Db } from '../src/shared/db/open.js';
import type { Teardown } from './helper.js';
import { freePort } from './process.js';

const run = promisify(execFile);

/** Debian's `postgresql` package puts its server binaries here; PG_BIN points elsewhere. */
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresCluster {
  /** The server's port on 127.0.0.1. */
  readonly port: number;
  /**
   * A connection URL of a new, empty database, copied from template0 (or from `template`,
   * a database prepared once, which makes a migrated schema cheap per test). `icuLocale`
   * makes one that orders text linguistically, such as 'en-US'.
   */
  freshDatabase(options?: { template?: string; icuLocale?: string }): Promise<string>;
  /** Stops the server as a database host going down would ("fast": connections cut); the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same data folder and port. */
  start(): Promise<void>;
  /** The server's log file (gone after teardown: copy what you need before). */
  readonly logFile: string;
}

/** initdb refuses to run as root: the cluster belongs to the postgres user then. */
function asClusterOwner(command: string, args: string[]): [string, string[]] {
  const root = process.getuid?.() === 0;
  return root ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

function ownerIds(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Starts a throw-away PostgreSQL cluster in a temp folder and stops it (and removes the
 * folder) at teardown. Durability is switched off (`fsync=off`, initdb `--no-sync`): a test
 * cluster never survives a power loss, and syncing would only make every test slower. A
 * benchmark asks for `durable: true`, so its commits pay for their syncs as in production.
 */
export async function startPostgres(t: Teardown, options: { durable?: boolean; settings?: Record<string, string | number> } = {}): Promise<PostgresCluster> {
  const initdb = path.join(BIN, 'initdb');
  if (!existsSync(initdb)) {
    throw new Error(`PostgreSQL server binaries not found in ${BIN}: install Debian's package (apt-get install postgresql) or set PG_BIN`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'panguard-pg-'));
  const owner = ownerIds();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = path.join(dir, 'data');
  const pgCtl = path.join(BIN, 'pg_ctl');
  const stop = () => {
    try {
      execFileSync(...asClusterOwner(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']), { stdio: 'ignore' });
    } catch {
      // Not running (start failed, or already stopped).
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A test process that dies on an uncaught error still takes its server down.
  process.once('exit', stop);
  t.teardown(() => {
    process.removeListener('exit', stop);
    stop();
  });

  await run(...asClusterOwner(initdb, ['-D', data, '-U', 'postgres', '--locale=C.UTF-8', '-E', 'UTF8', '--auth=trust', '--no-sync']));
  const port = await freePort();
  const durability = options.durable ? '' : ' -c fsync=off -c full_page_writes=off';
  const extra = Object.entries(options.settings ?? {})
    .map(([name, value]) => ` -c ${name}=${value}`)
    .join('');
  const serverOptions = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}${durability}${extra}`;
  const logFile = path.join(dir, 'server.log');
  const startServer = async () => {
    await run(...asClusterOwner(pgCtl, ['-D', data, '-w', '-l', logFile, '-o', serverOptions, 'start']));
  };
  await startServer();

  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let created = 0;
  return {
    port,
    logFile,
    start: startServer,
    async stop() {
      await run(...asClusterOwner(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop']));
    },
    async freshDatabase({ template = 'template0', icuLocale }: { template?: string; icuLocale?: string } = {}) {
      const name = `test_${++created}`;
      const admin = new pg.Client({ connectionString: url('postgres') });
      await admin.connect();
      try {
        const ordering = icuLocale ? ` LOCALE_PROVIDER icu ICU_LOCALE '${icuLocale}'` : '';
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}${ordering}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
  };
}

/** A client that reads int8 as numbers, as the storage adapter does; ended at teardown. */
export async function connectPostgres(t: Teardown, url: string): Promise<pg.Client> {
  const types = new pg.TypeOverrides();
  types.setTypeParser(20, Number);
  const client = new pg.Client({ connectionString: url, types });
  await client.connect();
  t.teardown(() => client.end());
  return client;
}

/**
 * A migrated PostgreSQL database holding exactly the rows of a SQLite one, copied the way
 * `panguard migrate-data` copies them: what a test needs to run a statement's two texts on
 * the same data.
 */
export async function mirrorToPostgres(t: Teardown, cluster: PostgresCluster, source: Db): Promise<string> {
  const url = await cluster.freshDatabase();
  await migratePostgres(url, POSTGRES_MIGRATIONS);
  const client = await connectPostgres(t, url);
  const version = POSTGRES_MIGRATIONS.at(-1)!.version;
  await copyIntoTarget(client, source, { version, seeded: seededRowCounts(version) });
  return url;
}
