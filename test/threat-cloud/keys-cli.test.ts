import t from 'tap';
import { ManualClock } from '../../src/shared/clock.js';
import { createApiKeyStore } from '../../src/shared/api-keys.js';
import { runKeysCommand } from '../../src/threat-cloud/keys-cli.js';
import { testConfig, testDb } from '../helper.js';

t.test('keys CLI: create, list, revoke against the database', async (t) => {
  const db = testDb(t, testConfig(t));
  const clock = new ManualClock();
  const created = runKeysCommand(db, clock, ['create', '--tier', 'business', '--scopes', 'read', '--name', 'firewall']);
  t.equal(created.code, 0);
  const key = /key \(shown once\): (pgk_\S+)/.exec(created.out)![1]!;
  const id = /created (key_\S+)/.exec(created.out)![1]!;
  const verified = createApiKeyStore(db, clock).verify(key)!;
  t.match(verified, { id, origin: 'operator', tier: 'business', scopes: ['read'], name: 'firewall' });
  const listed = runKeysCommand(db, clock, ['list']);
  t.match(listed.out, new RegExp(`${id}\\s+${key.slice(0, 4)}…${key.slice(-4)}`));
  t.notOk(listed.out.includes(key), 'list never prints keys');
  t.equal(runKeysCommand(db, clock, ['create', '--tier', 'gold']).code, 2);
  t.equal(runKeysCommand(db, clock, ['create', '--scopes', 'root']).code, 2);
  t.equal(runKeysCommand(db, clock, ['frobnicate']).code, 2);
  t.match(runKeysCommand(db, clock, ['create']).out, /\(pro; read,write\)/, 'defaults: pro, read+write');
  t.equal(runKeysCommand(db, clock, ['revoke', id]).code, 0);
  t.equal(createApiKeyStore(db, clock).verify(key), null);
  t.equal(runKeysCommand(db, clock, ['revoke', id]).code, 1);
  const audit = db.prepare(`SELECT action FROM tc_audit_log ORDER BY rowid`).all();
  t.same(audit, [{ action: 'create' }, { action: 'create' }, { action: 'delete' }]);
});
