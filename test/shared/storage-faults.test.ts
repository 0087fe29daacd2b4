import t from 'tap';
import { Type } from '@sinclair/typebox';
import { createBaseApp } from '../../src/shared/base-app.js';
import { createdReplies, ok } from '../../src/shared/envelope.js';
import { defineStatement } from '../../src/shared/db/storage.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { countIn, execute } from '../engines.js';
import { testConfig, testDb } from '../helper.js';
import { connectPostgres, startPostgres } from '../postgres.js';

t.test('a full or read-only database answers 503 in the envelope, stores no half batch, and recovers', async (t) => {
  const db = testDb(t, testConfig(t));
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO items (payload) VALUES (?)');
  const insertBatch = db.transaction((payloads: string[]) => payloads.forEach((p) => insert.run(p)));
  const app = await createBaseApp({ service: 'auth', title: 't', description: 't', version: '0', trustProxy: false, corsAllowedOrigins: [], rateLimit: { max: 1000 } });
  app.post(
    '/items',
    { schema: { body: Type.Object({ count: Type.Integer({ minimum: 1, maximum: 500 }) }), response: createdReplies(Type.Object({ stored: Type.Integer() })) } },
    async (request, reply) => {
      insertBatch(Array.from({ length: request.body.count }, () => 'x'.repeat(2000)));
      return reply.code(201).send(ok({ stored: request.body.count }));
    },
  );
  t.teardown(() => app.close());
  const count = () => (db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
  const post = (n: number) => app.inject({ method: 'POST', url: '/items', payload: { count: n } });

  t.equal((await post(5)).statusCode, 201);
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages + 2}`);
  const full = await post(200);
  t.equal(full.statusCode, 503);
  t.same(full.json(), { ok: false, error: 'Database unavailable', code: 'DATABASE_UNAVAILABLE' });
  t.equal(full.headers['retry-after'], '30');
  t.equal(count(), 5, 'the batch that did not fit left no row behind');

  db.pragma('max_page_count = 1073741823');
  t.equal((await post(200)).statusCode, 201, 'writes work again once space returns');
  t.equal(count(), 205);

  db.pragma('query_only = ON');
  const readOnly = await post(1);
  t.equal(readOnly.statusCode, 503, 'a read-only database is a 503 too');
  db.pragma('query_only = OFF');
  t.equal((await post(1)).statusCode, 201);
});

/**
 * PostgreSQL's counterparts: a database that turned read-only (a standby after a failover, or
 * set so by its administrator) refuses writes with SQLSTATE 25006. Like a read-only SQLite file,
 * that is a 503 in the envelope with Retry-After, nothing half stored, and writes work again once
 * the database does.
 */
t.test('a read-only PostgreSQL database answers 503 in the envelope, stores no half batch, and recovers', async (t) => {
  const cluster = await startPostgres(t);
  const url = await cluster.freshDatabase();
  const database = new URL(url).pathname.slice(1);
  const storage = await openPostgresStorage({ connectionString: url, poolSize: 2, statementTimeoutMs: 30_000, ssl: false });
  await execute(storage, 'CREATE TABLE items (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload text NOT NULL)');
  const insertItem = defineStatement<[string], never>('INSERT INTO items (payload) VALUES (?)');
  const app = await createBaseApp({ service: 'auth', title: 't', description: 't', version: '0', trustProxy: false, corsAllowedOrigins: [], rateLimit: { max: 1000 } });
  app.post(
    '/items',
    { schema: { body: Type.Object({ count: Type.Integer({ minimum: 1, maximum: 500 }) }), response: createdReplies(Type.Object({ stored: Type.Integer() })) } },
    async (request, reply) => {
      await storage.transaction({ durable: true }, (tx) => tx.runBatch(insertItem, Array.from({ length: request.body.count }, (): [string] => ['x'])));
      return reply.code(201).send(ok({ stored: request.body.count }));
    },
  );
  t.teardown(async () => {
    await app.close();
    await storage.close();
  });
  const admin = await connectPostgres(t, url.replace(`/${database}`, '/postgres'));
  /** Sets the database's default and ends its sessions, so the app's pool reconnects under it. */
  const readOnly = async (on: boolean) => {
    await admin.query(`ALTER DATABASE ${database} SET default_transaction_read_only = ${on ? 'on' : 'off'}`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    // The pool drops a terminated idle connection when the server's notice arrives.
    while (storage.poolUse!().idle > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  };
  const count = async () => countIn(storage, 'items');
  const post = (n: number) => app.inject({ method: 'POST', url: '/items', payload: { count: n } });

  t.equal((await post(5)).statusCode, 201);
  await readOnly(true);
  const refused = await post(200);
  t.equal(refused.statusCode, 503, refused.body);
  t.same(refused.json(), { ok: false, error: 'Database unavailable', code: 'DATABASE_UNAVAILABLE' });
  t.equal(refused.headers['retry-after'], '30');
  t.equal(await count(), 5, 'the refused batch left no row behind');

  await readOnly(false);
  t.equal((await post(200)).statusCode, 201, 'writes work again once the database does');
  t.equal(await count(), 205);
});
