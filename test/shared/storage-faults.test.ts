import t from 'tap';
import { Type } from '@sinclair/typebox';
import { createBaseApp } from '../../src/shared/base-app.js';
import { createdReplies, ok } from '../../src/shared/envelope.js';
import { testConfig, testDb } from '../helper.js';

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
