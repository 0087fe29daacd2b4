import t from 'tap';
import { lazySerializerBuilder } from '../../src/shared/serialization.js';

/** Response serialisers are compiled when first used, so start-up does not pay for them. */
t.test('a serialiser is compiled on its first use, not when the route is registered', async (t) => {
  const compile = lazySerializerBuilder({}, {});
  const route = (schema: object) => compile({ schema, method: 'GET', url: '/x', httpStatus: '200' });
  // A reference fast-json-stringify cannot resolve fails only when compiled.
  const broken = route({ type: 'object', properties: { a: { $ref: '#/definitions/missing' } } });
  t.throws(() => broken({ a: 1 }), 'the broken schema surfaces on first use');

  const serialize = route({ type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string' } } });
  t.equal(serialize({ n: 1, s: 'x', extra: true }), '{"n":1,"s":"x"}');
  t.equal(serialize({ n: 2, s: 'y' }), '{"n":2,"s":"y"}', 'the compiled function is reused');
});
