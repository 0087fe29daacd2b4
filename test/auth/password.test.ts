import t from 'tap';
import { readFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPasswordHasher } from '../../src/auth/services/password-hasher.js';
import { buildAuth, login, PASSWORD, register } from './fixtures.js';

t.test('hashes name algorithm and parameters, verify, reject malformed', async (t) => {
  const hasher = createPasswordHasher(10);
  const hash = await hasher.hash('secret password');
  t.match(hash, /^scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.equal(Buffer.from(hash.split('$')[2]!, 'base64').length, 16, '16-byte salt');
  t.equal(Buffer.from(hash.split('$')[3]!, 'base64').length, 64, '64-byte key');
  t.ok(await hasher.verify('secret password', hash));
  t.notOk(await hasher.verify('Secret password', hash));
  t.notOk(await hasher.verify('secret password', 'plain-text'));
  t.not(await hasher.hash('secret password'), hash, 'salted');
  t.notOk(hasher.needsRehash(hash));
  t.ok(createPasswordHasher(11).needsRehash(hash));
});

t.test('the production cost N=2^17 runs without maxmem errors and off the event loop', async (t) => {
  const hasher = createPasswordHasher(17);
  let ticks = 0;
  const interval = setInterval(() => (ticks += 1), 5);
  const hash = await hasher.hash('secret password');
  clearInterval(interval);
  t.match(hash, /^scrypt\$ln=17,/);
  t.ok(ticks > 0, 'timers kept firing while hashing');
});

t.test('the configured cost is used, and a login rehashes a hash made with another cost', async (t) => {
  const cheap = await buildAuth(t, { env: { AUTH_SCRYPT_LOG_N: '14' } });
  const account = await register(cheap.app);
  const stored = () => (cheap.db.prepare(`SELECT password_hash FROM users WHERE id = ?`).get(account.id) as { password_hash: string }).password_hash;
  t.match(stored(), /^scrypt\$ln=10,/, 'made at the test cost');
  const configured = await buildAuth(t, { db: cheap.db, config: cheap.config, app: { scryptLogNOverride: undefined } });
  t.equal((await login(configured.app, account.email, PASSWORD)).statusCode, 200);
  t.match(stored(), /^scrypt\$ln=14,r=8,p=1\$/, 'rehashed at the configured cost (AUTH_SCRYPT_LOG_N)');
  t.equal((await login(configured.app, account.email, PASSWORD)).statusCode, 200, 'new hash verifies');
});

t.test('with concurrency 1 queued hashes all complete and verify', async (t) => {
  const hasher = createPasswordHasher(10, 1);
  const hashes = await Promise.all(Array.from({ length: 6 }, (_, i) => hasher.hash(`password ${i}`)));
  t.equal(new Set(hashes).size, 6);
  const checks = await Promise.all(hashes.map((hash, i) => hasher.verify(`password ${i}`, hash)));
  t.same(checks, [true, true, true, true, true, true]);
});

t.test('hashes leave libuv\'s thread pool to file work', async (t) => {
  // As many hashes at once as the pool has threads (4 unless UV_THREADPOOL_SIZE says otherwise).
  const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const hasher = createPasswordHasher(15, poolSize);
  const finished: string[] = [];
  const hashes = Array.from({ length: poolSize }, (_, i) => hasher.hash(`password ${i}`).then(() => finished.push(`hash ${i}`)));
  const read = readFile(fileURLToPath(import.meta.url)).then(() => finished.push('file read'));
  await Promise.all([...hashes, read]);
  t.equal(finished[0], 'file read', 'the file read did not queue behind the hashes');
});

// Reads /proc: the per-thread priority is a Linux feature, and Linux is what the server runs on.
t.test('hashing threads run at a lower priority than the event loop', async (t) => {
  await createPasswordHasher(10, 1).hash('secret password');
  const niceOf = (task: string) => Number(readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
  const tasks = readdirSync('/proc/self/task');
  t.equal(niceOf(String(process.pid)), 0, 'the event loop keeps its priority');
  t.ok(tasks.some((task) => niceOf(task) === 10), 'a hashing thread runs at nice 10');
});
