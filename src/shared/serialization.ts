import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

type BuildSerializer = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']>;

const eagerBuilder = SerializerSelector();

/**
 * Fastify's own response serialisers (fast-json-stringify, from each route's response
 * schemas), each compiled on the first response that needs it instead of at start-up: about a
 * tenth of the time to listening went to code generation for status codes and routes that a
 * given deployment mostly never answers. The first response of each kind pays a few
 * milliseconds once.
 */
export const lazySerializerBuilder: BuildSerializer = (externalSchemas, serializerOptions) => {
  const compile = eagerBuilder(externalSchemas, serializerOptions);
  return (routeSchema) => {
    let serialize: ((data: unknown) => string) | null = null;
    return (data: unknown) => (serialize ??= compile(routeSchema) as (data: unknown) => string)(data);
  };
};
