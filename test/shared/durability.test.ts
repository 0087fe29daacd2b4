import path from 'node:path';
import t from 'tap';
import { requireDurable } from '../../src/shared/db/durable.js';
import { createSqliteStorage } from '../../src/shared/db/sqlite-storage.js';
import { defineStatement, type Transaction } from '../../src/shared/db/storage.js';
import { closeDatabase, openDatabase, type Db } from '../../src/shared/db/open.js';
import { buildAuth, register as registerAccount, login } from '../auth/fixtures.js';
import { tempDir } from '../helper.js';
import { event, buildManager, register as registerAgent, OPERATOR } from '../manager/fixtures.js';
import { buildThreatCloud, threat } from '../threat-cloud/fixtures.js';

const NORMAL = 1;
const FULL = 2;
const level = (db: Db) => db.pragma('synchronous', { simple: true }) as number;

function scratchDb(t: Parameters<typeof tempDir>[0], synchronous: 'NORMAL' | 'FULL' = 'NORMAL') {
  const db = openDatabase(path.join(tempDir(t), 'scratch.db'), { synchronous });
  t.teardown(() => closeDatabase(db));
  db.exec('CREATE TABLE notes (text TEXT NOT NULL)');
  const notes = () => (db.prepare('SELECT text FROM notes ORDER BY rowid').pluck().all() as string[]);
  return { db, notes };
}

// The durable transactions the stores use: the storage port's, with SQLite's level raised around them.
const noteText = defineStatement<[text: string]>('INSERT INTO notes (text) VALUES (?)');
const currentLevel = defineStatement<void, { synchronous: number }>('PRAGMA synchronous');

t.test('a durable transaction commits with FULL and puts the configured level back', async (t) => {
  const { db, notes } = scratchDb(t);
  const storage = createSqliteStorage(db);
  t.equal(level(db), NORMAL);
  const inside = await storage.transaction({ durable: true }, async (tx) => {
    await tx.run(noteText, ['plain']);
    return (await tx.get(currentLevel))!.synchronous;
  });
  t.equal(inside, FULL, 'FULL while the transaction runs, so at its commit');
  t.equal(level(db), NORMAL, 'the configured level is back afterwards');
  t.same(notes(), ['plain']);
});

t.test('a failing durable transaction stores nothing and still restores the level', async (t) => {
  const { db, notes } = scratchDb(t);
  const storage = createSqliteStorage(db);
  const failing = storage.transaction({ durable: true }, async (tx) => {
    await tx.run(noteText, ['half']);
    throw new Error('refused');
  });
  await t.rejects(failing, /refused/);
  t.equal(level(db), NORMAL);
  t.same(notes(), []);
});

t.test('with SQLITE_SYNCHRONOUS=FULL every commit stays FULL', async (t) => {
  const { db } = scratchDb(t, 'FULL');
  const storage = createSqliteStorage(db);
  t.equal(await storage.transaction({ durable: false }, async (tx) => (await tx.run(noteText, ['x']), (await tx.get(currentLevel))!.synchronous)), FULL);
  t.equal(level(db), FULL);
});

t.test('an audit-style write refuses to join a transaction that commits with NORMAL', async (t) => {
  const { db, notes } = scratchDb(t);
  const storage = createSqliteStorage(db);
  const auditStyle = async (tx: Transaction, text: string) => {
    requireDurable(tx);
    await tx.run(noteText, [text]);
  };
  const careless = storage.transaction({ durable: false }, async (tx) => {
    await tx.run(noteText, ['credential']);
    await auditStyle(tx, 'audit entry');
  });
  await t.rejects(careless, /durable: true/, 'the mistake is loud');
  t.same(notes(), [], 'and the whole transaction rolled back');

  await storage.transaction({ durable: true }, async (tx) => {
    await tx.run(noteText, ['credential']);
    await auditStyle(tx, 'audit entry');
  });
  await storage.transaction({ durable: true }, (tx) => auditStyle(tx, 'standalone audit entry'));
  t.same(notes(), ['credential', 'audit entry', 'standalone audit entry']);
  t.equal(level(db), NORMAL);
});

/**
 * Temp triggers note the connection's `synchronous` level when each row is written. SQLite
 * refuses to change that level inside a transaction, so it is the level of the commit.
 */
function recordCommitLevels(db: Db, tables: string[]) {
  db.exec('CREATE TEMP TABLE commit_levels (tbl TEXT NOT NULL, level INTEGER NOT NULL)');
  for (const table of tables) {
    for (const kind of ['INSERT', 'UPDATE']) {
      db.exec(`CREATE TEMP TRIGGER level_${table}_${kind} AFTER ${kind} ON main.${table}
               BEGIN INSERT INTO commit_levels SELECT '${table}', synchronous FROM pragma_synchronous; END`);
    }
  }
  return {
    levels: (table: string) => [...new Set(db.prepare('SELECT level FROM commit_levels WHERE tbl = ?').pluck().all(table) as number[])],
    clear: () => db.exec('DELETE FROM commit_levels'),
  };
}

t.test('credentials and audit entries commit with FULL; fleet telemetry and agent reports with NORMAL', async (t) => {
  const manager = await buildManager(t);
  const tc = await buildThreatCloud(t, { db: manager.db });
  const auth = await buildAuth(t, { db: manager.db });
  const { levels, clear } = recordCommitLevels(manager.db, [
    'users', 'sessions', 'audit_log', 'api_keys', 'totp_secrets', 'agents', 'threat_events', 'iocs', 'tc_audit_log',
  ]);
  t.equal(level(manager.db), NORMAL, 'the configured default');

  const account = await registerAccount(auth.app);
  t.same(levels('users'), [FULL], 'registration');
  t.same(levels('sessions'), [FULL]);
  t.same(levels('audit_log'), [FULL]);
  clear();

  t.equal((await login(auth.app, account.email)).statusCode, 200);
  t.same(levels('sessions'), [FULL], 'login session');
  t.same(levels('audit_log'), [FULL]);
  clear();

  const key = await auth.app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: account.headers, payload: { name: 'feed reader' } });
  t.equal(key.statusCode, 201, key.body);
  t.same(levels('api_keys'), [FULL], 'API key creation');
  clear();

  const agent = await registerAgent(manager.app, { org_id: 'acme' });
  t.same(levels('agents'), [FULL], 'agent registration issues a token');
  clear();

  t.equal((await manager.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: { cpu: 5 } })).statusCode, 200);
  t.same(levels('agents'), [NORMAL], 'heartbeats');
  const events = await manager.app.inject({ method: 'POST', url: `/api/agents/${agent.id}/events`, headers: OPERATOR, payload: { events: [event()] } });
  t.equal(events.statusCode, 201, events.body);
  t.same(levels('threat_events'), [NORMAL], 'event batches');
  t.same(levels('iocs'), [NORMAL], 'their Threat Cloud reports');
  clear();

  t.equal((await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.9')] } })).statusCode, 201);
  t.same(levels('tc_audit_log'), [FULL], 'the upload audit entry');
  t.same(levels('iocs'), [FULL], 'and the upload it records, in one transaction');
  clear();

  t.equal((await tc.inject({ url: '/api/iocs/198.51.100.9' })).statusCode, 200);
  t.equal((await tc.inject({ url: '/api/audit-log' })).statusCode, 200, 'writes the read audit so far');
  t.equal((await tc.inject({ url: '/api/iocs/198.51.100.9' })).statusCode, 200);
  await tc.app.close();
  t.same(levels('tc_audit_log'), [NORMAL], 'aggregated read audit, inserted then added to: no sync on the read path');
  t.equal(level(manager.db), NORMAL, 'the connection is left as configured');
});
