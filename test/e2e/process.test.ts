import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request, startServerProcess, type ServerProcess } from '../process.js';
import { tempDir } from '../helper.js';

async function run(t: Parameters<typeof tempDir>[0], dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess(dataDir, env);
  t.teardown(() => server.stop('SIGKILL'));
  await server.waitHealthy();
  return server;
}

t.test('npm start brings up three listeners, keeps secrets private and reuses them, stops on SIGTERM', async (t) => {
  const dataDir = tempDir(t);
  const first = await run(t, dataDir);

  const auth = await request(`${first.urls.auth}/health`);
  t.same(JSON.parse(auth.body).data.status, 'healthy');
  t.equal(JSON.parse(auth.body).data.db, 'connected');
  const manager = await request(`${first.urls.manager}/health`, { ca: first.managerCa() });
  t.equal(manager.status, 200, 'Manager answers over TLS verified against its own certificate');
  t.equal(manager.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
  const threatCloud = await request(`${first.urls.threatCloud}/health`);
  t.equal(threatCloud.status, 200);
  t.notOk(threatCloud.headers['strict-transport-security'], 'no HSTS on plain HTTP');
  const plainToManager = await request(`http://127.0.0.1:${first.ports.manager}/health`).catch((error: Error) => error);
  t.ok(plainToManager instanceof Error || plainToManager.status === 400, 'the Manager does not serve plain HTTP by default');

  const secretsFile = path.join(dataDir, 'secrets.json');
  const databaseFile = path.join(dataDir, 'panguard.db');
  for (const file of [secretsFile, databaseFile, path.join(dataDir, 'certs', 'manager.key')]) {
    t.equal(statSync(file).mode & 0o777, 0o600, `${path.basename(file)} is 0600`);
  }
  const secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, string>;
  t.match(first.output(), secrets.managerAuthToken!, 'the banner shows the generated Manager token once');
  t.notMatch(first.output(), secrets.jwtSecret!, 'the JWT secret is never printed');
  const certificate = readFileSync(first.certFile, 'utf8');

  const stopped = await first.stop('SIGTERM');
  t.equal(stopped.code, 0, 'exit code 0 after SIGTERM');
  t.ok(stopped.ms < 10_000, `stopped within 10 s (${stopped.ms} ms)`);

  const second = await run(t, dataDir);
  t.same(JSON.parse(readFileSync(secretsFile, 'utf8')), secrets, 'secrets reused after a restart');
  t.equal(readFileSync(second.certFile, 'utf8'), certificate, 'certificate reused after a restart');
  t.notMatch(second.output(), secrets.managerAuthToken!, 'a restart does not print the token again');
  t.match(second.output(), /secrets\.json/, 'but says where it is kept');
  const sigint = await second.stop('SIGINT');
  t.equal(sigint.code, 0, 'exit code 0 after SIGINT');
});

t.test('a bad configuration value stops the process with exit 1 and one clear line', async (t) => {
  const server = await startServerProcess(tempDir(t), { MANAGER_HEARTBEAT_TIMEOUT_MS: 'soon' });
  const result = await server.waitExit(10_000);
  t.equal(result.code, 1);
  t.match(server.output(), 'MANAGER_HEARTBEAT_TIMEOUT_MS must be an integer of at least 1000, got "soon"');
  t.notMatch(server.output(), /\n\s+at /, 'no stack trace');
});

t.test('with DATABASE_URL naming a PostgreSQL server that cannot be reached, the process says so and creates nothing', async (t) => {
  const dataDir = tempDir(t);
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  const server = await startServerProcess(dataDir, { DATABASE_URL: 'postgres://panguard:never-printed@127.0.0.1:1/panguard' });
  const result = await server.waitExit(10_000);
  t.equal(result.code, 1);
  t.match(server.output(), /cannot prepare postgres:\/\/panguard:\*+@127\.0\.0\.1:1\/panguard: .*ECONNREFUSED/);
  t.notMatch(server.output(), 'never-printed', 'the password is not printed');
  t.notMatch(server.output(), /\n\s+at /, 'no stack trace');
  t.same(readdirSync(dataDir), [], 'no SQLite file, secrets or certificate were created');
});

t.test('MANAGER_TLS=false serves the Manager over plain HTTP', async (t) => {
  const server = await run(t, tempDir(t), { MANAGER_TLS: 'false' });
  const res = await request(`${server.urls.manager}/health`);
  t.equal(res.status, 200);
  t.notOk(res.headers['strict-transport-security']);
});
