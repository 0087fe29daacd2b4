/**
 * Two real processes (`node dist/main.js`) over one PostgreSQL database, each with its own
 * data folder, no secret supplied and the Manager on its self-signed TLS: they generate the
 * secrets and the certificate once, in the database, so a session opened on one works on the
 * other, a TOTP secret stored by one is read by the other, the Manager token one printed opens
 * the other's Manager, and agents pinning the certificate see the same one on both.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import t from 'tap';
import { codeAt } from '../../src/auth/services/totp-crypto.js';
import { tempDir } from '../helper.js';
import { connectPostgres, startPostgres } from '../postgres.js';
import { request, startServerProcess, type ServerProcess } from '../process.js';

const PASSWORD = 'Shared-Secrets-Passphrase-42';

/** The SHA-256 fingerprint of the certificate a TLS server presents (no trust decision: only compared). */
function presentedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

function json(body: string): { data: Record<string, unknown> } & Record<string, unknown> {
  return JSON.parse(body) as { data: Record<string, unknown> };
}

t.test('two replicas over one PostgreSQL database agree on generated secrets and the Manager certificate', async (t) => {
  const cluster = await startPostgres(t);
  const url = await cluster.freshDatabase();
  const env = { DATABASE_URL: url, DATABASE_TLS: 'disable', MANAGER_TLS: 'true', RATE_LIMIT_SCALE: '10' };
  const dirs = [tempDir(t), tempDir(t)];
  // Started together, as replicas behind a balancer are: whichever commits first, both end with its values.
  const replicas: ServerProcess[] = await Promise.all(dirs.map((dir) => startServerProcess(dir, env)));
  for (const replica of replicas) t.teardown(() => replica.stop('SIGKILL'));
  await Promise.all(replicas.map((replica) => replica.waitHealthy()));
  const [one, two] = replicas as [ServerProcess, ServerProcess];

  const printed = replicas.map((replica) => /Manager token \(shown once\): (\S+)/.exec(replica.output())?.[1]);
  t.equal(printed.filter(Boolean).length, 1, 'the generated Manager token is printed once, by the replica that generated it');
  for (const replica of replicas) {
    t.match(replica.output(), /Generated secrets are kept in the database \(cluster_secrets\)/);
    t.notOk(existsSync(path.join(replica.dataDir, 'secrets.json')), 'no secrets.json in the data folder');
  }

  const fingerprints = await Promise.all(replicas.map((replica) => presentedFingerprint(replica.ports.manager)));
  t.equal(fingerprints[0], fingerprints[1], 'both Managers present the same certificate');
  t.same(one.managerCa(), two.managerCa(), 'and each wrote it to its own files');
  const health = await request(`${two.urls.manager}/health`, { ca: one.managerCa() });
  t.equal(health.status, 200, "replica 2's Manager is trusted by an agent pinning replica 1's certificate");

  const token = printed.find(Boolean)!;
  for (const [i, replica] of replicas.entries()) {
    const agents = await request(`${replica.urls.manager}/api/agents`, { ca: replica.managerCa(), headers: { authorization: `Bearer ${token}` } });
    t.equal(agents.status, 200, `the printed Manager token opens replica ${i + 1}'s Manager`);
  }

  const registered = await request(`${one.urls.auth}/api/auth/register`, {
    method: 'POST',
    body: JSON.stringify({ email: 'shared@example.com', name: 'Shared', password: PASSWORD }),
  });
  t.equal(registered.status, 201, registered.body);
  const session = { authorization: `Bearer ${json(registered.body).data.token as string}` };
  const me = await request(`${two.urls.auth}/api/auth/me`, { headers: session });
  t.equal(me.status, 200, `a JWT from replica 1 is accepted by replica 2: ${me.body}`);
  t.equal(json(me.body).data.email, 'shared@example.com');

  const loggedIn = await request(`${two.urls.auth}/api/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'shared@example.com', password: PASSWORD }) });
  t.equal(loggedIn.status, 200, loggedIn.body);
  const secondSession = { authorization: `Bearer ${json(loggedIn.body).data.token as string}` };
  t.equal((await request(`${one.urls.auth}/api/auth/me`, { headers: secondSession })).status, 200, 'and one from replica 2 by replica 1');

  // TOTP: the secret is encrypted by replica 1 at setup and decrypted by replica 2 to check the code.
  const setup = await request(`${one.urls.auth}/api/auth/totp/setup`, { method: 'POST', headers: session });
  t.equal(setup.status, 200, setup.body);
  const secret = json(setup.body).data.secret as string;
  const verified = await request(`${two.urls.auth}/api/auth/totp/verify`, {
    method: 'POST',
    headers: session,
    body: JSON.stringify({ totpCode: codeAt(secret, Date.now()) }),
  });
  t.equal(verified.status, 200, `replica 2 reads the TOTP secret replica 1 stored: ${verified.body}`);

  const client = await connectPostgres(t, url);
  const kept = Object.fromEntries(
    ((await client.query(`SELECT name, value FROM cluster_secrets`)).rows as Array<{ name: string; value: string }>).map((row) => [row.name, row.value]),
  );
  t.equal(kept.managerAuthToken, token, 'the printed token is the one kept in the database');
  const outputs = replicas.map((replica) => replica.output()).join('\n');
  for (const name of ['jwtSecret', 'tcAdminToken', 'totpEncryptionKey', 'managerTlsKey']) {
    t.ok(kept[name], `${name} is kept in cluster_secrets`);
    t.notOk(outputs.includes(kept[name]!), `${name} is never printed or logged`);
  }
  t.equal(outputs.split(token).length - 1, 1, 'the Manager token appears once, in one banner');

  // A restart of replica 2 with a fresh data folder still joins: same certificate, nothing printed.
  await two.stop('SIGTERM');
  const third = await startServerProcess(tempDir(t), env);
  t.teardown(() => third.stop('SIGKILL'));
  await third.waitHealthy();
  t.equal(await presentedFingerprint(third.ports.manager), fingerprints[0], 'a new replica presents the same certificate');
  t.notMatch(third.output(), /Manager token \(shown once\)/, 'and prints no token');
  t.equal((await request(`${third.urls.auth}/api/auth/me`, { headers: session })).status, 200, 'and accepts the sessions');
});
