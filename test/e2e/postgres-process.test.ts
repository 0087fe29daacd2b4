/**
 * The real process (`node dist/main.js`, what `npm start` runs) on a real PostgreSQL 15: the
 * deployment smoke run passes as on SQLite, every service says which engine it runs on,
 * `/metrics` shows the pool, nothing is written to a SQLite file, and what was stored is
 * there after a restart.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { tempDir } from '../helper.js';
import { connectPostgres, startPostgres } from '../postgres.js';
import { request, runSmoke, startServerProcess, type ServerProcess } from '../process.js';

const TC_KEY = 'tc-bootstrap-key-for-the-postgres-run-0123456789abcdef';
const ADMIN_PASSWORD = 'Postgres-Run-Admin-Passphrase-7';

function start(dataDir: string, url: string): Promise<ServerProcess> {
  return startServerProcess(dataDir, {
    DATABASE_URL: url,
    // The test cluster listens on loopback only, without a certificate.
    DATABASE_TLS: 'disable',
    TC_API_KEYS: TC_KEY,
    METRICS_ENABLED: 'true',
    RATE_LIMIT_SCALE: '10',
  });
}

t.test('npm start with DATABASE_URL runs the three services on PostgreSQL', async (t) => {
  const cluster = await startPostgres(t);
  const url = await cluster.freshDatabase();
  const dataDir = tempDir(t);
  let server = await start(dataDir, url);
  t.teardown(() => server.stop('SIGKILL'));
  await server.waitHealthy();
  const { auth, manager, threatCloud } = server.urls;
  const ca = server.managerCa();

  const healths = await Promise.all([request(`${auth}/health`), request(`${manager}/health`, { ca }), request(`${threatCloud}/health`)]);
  t.same(
    healths.map((res) => (JSON.parse(res.body) as { data: { engine: string } }).data.engine),
    ['postgres', 'postgres', 'postgres'],
    'every service reports PostgreSQL',
  );
  t.notOk(existsSync(path.join(dataDir, 'panguard.db')), 'no SQLite file is created');

  const admin = await request(`${auth}/api/auth/register`, { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', name: 'Admin', password: ADMIN_PASSWORD }) });
  t.equal(admin.status, 201, admin.body);

  const run = await runSmoke(['--auth', auth, '--manager', manager, '--tc', threatCloud, '--manager-ca', server.certFile], { PANGUARD_SMOKE_TC_KEY: TC_KEY });
  t.equal(run.code, 0, run.lines.join('\n') + run.stderr);
  t.match(run.lines.at(-1), /^passed: 12 ok, 1 skipped, 0 failed/, 'the same steps pass as on SQLite');

  const metrics = await request(`${threatCloud}/metrics`);
  t.equal(metrics.status, 200);
  t.match(metrics.body, /^panguard_db_pool_connections\{state="idle",service="threat-cloud"\} \d+$/m, 'the pool is on /metrics');
  t.match(metrics.body, /^panguard_db_pool_waiting\{service="threat-cloud"\} \d+$/m);
  const size = Number(/^panguard_database_size_bytes\{service="threat-cloud"\} (\d+)$/m.exec(metrics.body)?.[1]);
  t.ok(size > 1_000_000, `the database size is PostgreSQL's (${size} bytes)`);

  const client = await connectPostgres(t, url);
  const rows = async (sql: string) => (await client.query(sql)).rows as Record<string, unknown>[];
  t.same(await rows(`SELECT email, role FROM users`), [{ email: 'admin@example.com', role: 'admin' }], 'the admin is stored, the smoke account deleted');
  const actions = (await rows(`SELECT action FROM audit_log ORDER BY rowid`)).map((row) => row.action);
  t.ok(actions.includes('register') && actions.includes('account.delete'), `the audit trail is in PostgreSQL: ${actions.join(', ')}`);
  t.same(await rows(`SELECT count(*) AS n FROM iocs WHERE status = 'active'`), [{ n: 0 }], 'the smoke IoCs were revoked');

  // A graceful stop, then the same database again: nothing to migrate, everything still there.
  t.equal((await server.stop('SIGTERM')).code, 0, 'a graceful stop exits 0');
  // On PostgreSQL the generated secrets are kept in the database (shared by every replica), not in DATA_DIR.
  const secrets = await rows(`SELECT name, value FROM cluster_secrets ORDER BY name`);
  t.same(secrets.map((row) => row.name), ['jwtSecret', 'managerAuthToken', 'managerTlsCert', 'managerTlsKey', 'tcAdminToken', 'totpEncryptionKey'], 'the generated secrets are in the database');
  t.notOk(existsSync(path.join(dataDir, 'secrets.json')), 'and not in the data folder');
  server = await start(dataDir, url);
  await server.waitHealthy();
  const login = await request(`${server.urls.auth}/api/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: ADMIN_PASSWORD }) });
  t.equal(login.status, 200, 'the admin signs in after the restart');
  t.same(await rows(`SELECT name, value FROM cluster_secrets ORDER BY name`), secrets, 'the generated secrets are kept');
});

t.test('a PostgreSQL database that orders text linguistically is refused before anything is created in it', async (t) => {
  const cluster = await startPostgres(t);
  const url = await cluster.freshDatabase({ icuLocale: 'en-US' });
  const dataDir = tempDir(t);
  const server = await start(dataDir, url);
  const result = await server.waitExit(20_000);
  t.equal(result.code, 1);
  t.match(server.output(), /uses the collation .*LC_COLLATE 'C'/);
  const client = await connectPostgres(t, url);
  t.same((await client.query(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'`)).rows, [{ n: 0 }], 'no table was created');
});
