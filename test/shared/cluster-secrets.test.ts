/**
 * Secrets and the Manager's self-signed certificate on PostgreSQL: replicas over one database
 * (a pool each, as separate processes have) end with one set of values, kept in
 * `cluster_secrets`; secrets supplied by environment are used and never stored; a single
 * replica's `secrets.json` and certificate are taken in, and the database wins a disagreement.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { generate } from 'selfsigned';
import { ensureClusterCertificate, ensureClusterSecrets, type SecretsLog } from '../../src/shared/cluster-secrets.js';
import { ensureSelfSignedCertificate, fingerprintOf } from '../../src/shared/certificate.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { ensureSecrets, SECRET_NAMES, SECRETS_FILE } from '../../src/shared/secrets.js';
import { selectRows, storageOn } from '../engines.js';
import { tempDir } from '../helper.js';
import { postgresUrlOf } from '../threat-cloud/fixtures.js';

/** `count` pools over one fresh migrated PostgreSQL database, as `count` replicas hold. */
async function replicasOn(t: Test, count: number): Promise<Storage[]> {
  const first = (await storageOn('postgres'))!;
  t.teardown(() => first.close());
  const connectionString = await postgresUrlOf(first);
  const others: Storage[] = [];
  for (let i = 1; i < count; i++) {
    const other = await openPostgresStorage({ connectionString, poolSize: 2, statementTimeoutMs: 30_000, ssl: false });
    t.teardown(() => other.close());
    others.push(other);
  }
  return [first, ...others];
}

/** A log that keeps every entry, to check what was said and that no value was. */
function capturingLog(): SecretsLog & { entries: Array<{ level: string; details: Record<string, unknown>; message: string }> } {
  const entries: Array<{ level: string; details: Record<string, unknown>; message: string }> = [];
  return {
    entries,
    warn: (details, message) => entries.push({ level: 'warn', details, message }),
    info: (details, message) => entries.push({ level: 'info', details, message }),
  };
}

async function storedRows(storage: Storage): Promise<Record<string, string>> {
  const rows = await selectRows<{ name: string; value: string }>(storage, `SELECT name, value FROM cluster_secrets ORDER BY name`);
  return Object.fromEntries(rows.map((row) => [row.name, row.value]));
}

t.test('three replicas starting at once end with one set of secrets, generated once and kept in the database', async (t) => {
  const replicas = await replicasOn(t, 3);
  const dirs = replicas.map(() => tempDir(t));
  const results = await Promise.all(replicas.map((storage, i) => ensureClusterSecrets(storage, dirs[i]!, {}, capturingLog())));
  for (const result of results.slice(1)) t.same(result.secrets, results[0]!.secrets, 'every replica has the same values');
  t.same(
    results.map((result) => result.generated.length).sort(),
    [0, 0, SECRET_NAMES.length],
    'one replica generated every secret, the others found them',
  );
  t.same(await storedRows(replicas[0]!), { ...results[0]!.secrets }, 'the database holds exactly those values');
  t.match(results[0]!.secrets.totpEncryptionKey, /^[0-9a-f]{64}$/);
  t.ok(results[0]!.secrets.managerAuthToken.startsWith('pgm_'));
  for (const dir of dirs) t.notOk(existsSync(path.join(dir, SECRETS_FILE)), 'no secrets.json is written on PostgreSQL');

  const again = await ensureClusterSecrets(replicas[1]!, tempDir(t), {}, capturingLog());
  t.same(again, { secrets: results[0]!.secrets, generated: [], imported: [] }, 'a restart or a new replica reuses them and generates nothing');
});

t.test('secrets supplied by environment are used and never stored', async (t) => {
  const [storage] = await replicasOn(t, 1);
  const given = { jwtSecret: 'configured-jwt-secret-0123456789abcdef-xyz', tcAdminToken: 'configured-tc-admin-token-0123456789' };
  const result = await ensureClusterSecrets(storage!, tempDir(t), given, capturingLog());
  t.equal(result.secrets.jwtSecret, given.jwtSecret);
  t.equal(result.secrets.tcAdminToken, given.tcAdminToken);
  t.same(result.generated.sort(), ['managerAuthToken', 'totpEncryptionKey']);
  const stored = await storedRows(storage!);
  t.same(Object.keys(stored), ['managerAuthToken', 'totpEncryptionKey'], 'only the generated names are kept');
  t.notOk(Object.values(stored).some((value) => value === given.jwtSecret || value === given.tcAdminToken), 'no supplied value is in the database');
});

t.test("a single replica's secrets.json is taken into the database, so its sessions and TOTP secrets keep working", async (t) => {
  const [first, second] = await replicasOn(t, 2);
  const singleDir = tempDir(t);
  const single = ensureSecrets(singleDir, {});
  const before = readFileSync(single.file, 'utf8');
  const log = capturingLog();
  const moved = await ensureClusterSecrets(first!, singleDir, {}, log);
  t.same(moved.secrets, single.secrets, 'the file values are used');
  t.same(moved.generated, [], 'nothing generated');
  t.same(moved.imported.sort(), [...SECRET_NAMES].sort(), 'every name imported');
  t.same(await storedRows(first!), { ...single.secrets }, 'the database holds the file values');
  t.equal(readFileSync(single.file, 'utf8'), before, 'the file is left as it was');
  t.match(log.entries, [{ level: 'info', details: { names: moved.imported, file: single.file } }]);
  t.notMatch(JSON.stringify(log.entries), single.secrets.jwtSecret, 'no value is logged');

  const joined = await ensureClusterSecrets(second!, tempDir(t), {}, capturingLog());
  t.same(joined.secrets, single.secrets, 'a new replica with an empty data folder gets the same values');
});

t.test('when the file and the database disagree the database wins, and the warning names no value', async (t) => {
  const [first, second] = await replicasOn(t, 2);
  const cluster = await ensureClusterSecrets(first!, tempDir(t), {}, capturingLog());
  const strayDir = tempDir(t);
  const stray = ensureSecrets(strayDir, {});
  const log = capturingLog();
  const result = await ensureClusterSecrets(second!, strayDir, {}, log);
  t.same(result.secrets, cluster.secrets, "the database's values are used");
  t.same(result.imported, [], 'nothing taken from a file the database contradicts');
  t.same(await storedRows(first!), { ...cluster.secrets }, 'the database is unchanged');
  const warnings = log.entries.filter((entry) => entry.level === 'warn');
  t.equal(warnings.length, 1);
  t.same((warnings[0]!.details.names as string[]).sort(), [...SECRET_NAMES].sort(), 'the warning names every disagreeing secret');
  t.match(warnings[0]!.message, /database's are used and the file's copies are ignored/);
  const logged = JSON.stringify(log.entries);
  for (const name of SECRET_NAMES) {
    t.notMatch(logged, stray.secrets[name], `the file's ${name} is not logged`);
    t.notMatch(logged, cluster.secrets[name], `the database's ${name} is not logged`);
  }
  t.equal(readFileSync(stray.file, 'utf8'), `${JSON.stringify(stray.secrets, null, 2)}\n`, 'the file is not rewritten');
});

t.test('a name missing from the database is taken from the file, the others kept', async (t) => {
  const [storage] = await replicasOn(t, 1);
  const withoutTotp = await ensureClusterSecrets(storage!, tempDir(t), { totpEncryptionKey: 'ab'.repeat(32) }, capturingLog());
  const dir = tempDir(t);
  const local = ensureSecrets(dir, {});
  const result = await ensureClusterSecrets(storage!, dir, {}, capturingLog());
  t.same(result.imported, ['totpEncryptionKey']);
  t.equal(result.secrets.totpEncryptionKey, local.secrets.totpEncryptionKey, "the file's TOTP key is taken in");
  t.equal(result.secrets.jwtSecret, withoutTotp.secrets.jwtSecret, "the database's JWT secret stays");
});

function certPaths(dir: string) {
  return { certFile: path.join(dir, 'certs', 'manager.crt'), keyFile: path.join(dir, 'certs', 'manager.key') };
}

t.test('three replicas starting at once present one self-signed Manager certificate, written to each one\'s files', async (t) => {
  const replicas = await replicasOn(t, 3);
  const files = replicas.map(() => certPaths(tempDir(t)));
  const results = await Promise.all(replicas.map((storage, i) => ensureClusterCertificate(storage, files[i]!.certFile, files[i]!.keyFile, capturingLog())));
  t.equal(results.filter((result) => result.generated).length, 1, 'one replica made the pair');
  for (const [i, result] of results.entries()) {
    t.equal(result.cert, results[0]!.cert, `replica ${i} serves the same certificate`);
    t.equal(result.key, results[0]!.key);
    t.equal(result.written, true);
    t.equal(readFileSync(files[i]!.certFile, 'utf8'), results[0]!.cert, `replica ${i}'s certificate file is the shared one`);
    t.equal(readFileSync(files[i]!.keyFile, 'utf8'), results[0]!.key);
    t.equal(statSync(files[i]!.keyFile).mode & 0o777, 0o600, 'the key is private');
  }
  const stored = await storedRows(replicas[0]!);
  t.same({ cert: stored.managerTlsCert, key: stored.managerTlsKey }, { cert: results[0]!.cert, key: results[0]!.key }, 'the pair is kept in cluster_secrets');

  const restart = await ensureClusterCertificate(replicas[1]!, files[1]!.certFile, files[1]!.keyFile, capturingLog());
  t.same({ written: restart.written, generated: restart.generated, cert: restart.cert }, { written: false, generated: false, cert: results[0]!.cert }, 'a restart finds its files current');
});

t.test('supplied certificate files are used as they are and the database is not touched', async (t) => {
  const [storage] = await replicasOn(t, 1);
  const { certFile, keyFile } = certPaths(tempDir(t));
  const operators = await generate([{ name: 'commonName', value: 'manager.example.com' }, { name: 'organizationName', value: 'Example Ops' }], {
    keyType: 'ec',
    curve: 'P-256',
  });
  mkdirSync(path.dirname(certFile), { recursive: true });
  writeFileSync(certFile, operators.cert);
  writeFileSync(keyFile, operators.private, { mode: 0o600 });
  const result = await ensureClusterCertificate(storage!, certFile, keyFile, capturingLog());
  t.same({ cert: result.cert, key: result.key, written: result.written }, { cert: operators.cert, key: operators.private, written: false });
  t.same(await storedRows(storage!), {}, 'nothing is stored');
  t.equal(readFileSync(certFile, 'utf8'), operators.cert, 'the files are unchanged');
});

t.test("a single replica's self-signed certificate is taken in; one that differs from the database's is replaced with a warning", async (t) => {
  const [first, second] = await replicasOn(t, 2);
  const single = certPaths(tempDir(t));
  const made = await ensureSelfSignedCertificate(single.certFile, single.keyFile);
  const taken = await ensureClusterCertificate(first!, single.certFile, single.keyFile, capturingLog());
  t.same({ cert: taken.cert, written: taken.written, generated: taken.generated }, { cert: made.cert, written: false, generated: false }, 'agents pinning it keep working');
  t.equal((await storedRows(first!)).managerTlsCert, made.cert, 'the database now holds it');

  const stray = certPaths(tempDir(t));
  const strayPair = await ensureSelfSignedCertificate(stray.certFile, stray.keyFile);
  const log = capturingLog();
  const replaced = await ensureClusterCertificate(second!, stray.certFile, stray.keyFile, log);
  t.equal(replaced.cert, made.cert, "the database's certificate is used");
  t.equal(replaced.written, true);
  t.equal(readFileSync(stray.certFile, 'utf8'), made.cert, "and written over this replica's files");
  t.equal(readFileSync(stray.keyFile, 'utf8'), made.key);
  t.match(log.entries, [
    { level: 'warn', details: { certFile: stray.certFile, replaced: fingerprintOf(strayPair.cert as string), used: fingerprintOf(made.cert as string) } },
  ]);
  t.notMatch(JSON.stringify(log.entries), 'PRIVATE KEY', 'no key is logged');
});
