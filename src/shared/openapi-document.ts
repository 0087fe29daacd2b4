import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import type { FastifySchema } from 'fastify';
import { errorResponse, RATE_LIMITED_HEADERS, UNAVAILABLE_HEADERS } from './openapi-responses.js';

/**
 * How each service's `/docs/json` is produced: an OpenAPI 3.0.3 document that tools written
 * elsewhere accept (swagger-parser, Redocly, client generators, validating proxies).
 */

/**
 * Keywords our Ajv understands but OpenAPI 3.0 does not: ajv-errors' field messages and the
 * if/then of the policy rules. They stay in the route schemas, which drive validation and
 * its messages; only the published document goes without them.
 */
export const VALIDATOR_ONLY_KEYWORDS: ReadonlySet<string> = new Set(['errorMessage', 'if', 'then', 'else']);

export interface OpenApiDocumentOptions {
  title: string;
  description: string;
  version: string;
  /** False for the paths the rate limiter exempts (they never answer 429). */
  isRateLimited: (url: string) => boolean;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

export function openApiDocumentOptions(options: OpenApiDocumentOptions): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: options.title,
        description: options.description,
        version: options.version,
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      // Relative: the document is served by the service it describes, on whatever host and port.
      servers: [{ url: '/', description: `${options.title} (the host serving this document)` }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: ({ schema, url }) => ({ schema: withKernelResponses(schema, options.isRateLimited(url)), url }),
    // Always an OpenAPI (not Swagger 2) object here: the `openapi` option above selects it.
    transformObject: (generated) => withoutValidatorKeywords(('openapiObject' in generated ? generated.openapiObject : {}) as Json),
  };
}

/**
 * The 429 and 503 every route can answer come from the kernel (rate limiter, key guard,
 * error handler), not from the route: documented here, once, with the headers they carry.
 * Only the document changes; the route keeps serialising them through its `4xx`/`5xx` schema.
 */
function withKernelResponses(schema: FastifySchema | undefined, rateLimited: boolean): FastifySchema {
  if (!schema?.response || (schema as { hide?: boolean }).hide) return schema ?? {};
  const response = { ...(schema.response as Json) };
  if (rateLimited) response['429'] ??= errorResponse('Too many requests', RATE_LIMITED_HEADERS);
  response['503'] ??= errorResponse('Database unavailable or server shutting down', UNAVAILABLE_HEADERS);
  return { ...schema, response };
}

/**
 * A copy of the document without validator-only keywords. Copies, never edits: the
 * generator shares objects with the route schemas the validators were compiled from.
 */
export function withoutValidatorKeywords(document: Json): Json {
  return cleanOutsideSchemas(document);
}

/**
 * Walks what is not a schema (paths, operations, media types, headers, components) down to
 * the schemas: `schema` values, and the `components.schemas` map.
 */
function cleanOutsideSchemas(node: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'schema') out[key] = cleanSchema(value);
    else if (key === 'schemas' && isObject(value)) out[key] = mapValues(value, cleanSchema);
    else if (Array.isArray(value)) out[key] = value.map((item) => (isObject(item) ? cleanOutsideSchemas(item) : item));
    else out[key] = isObject(value) ? cleanOutsideSchemas(value) : value;
  }
  return out;
}

function cleanSchema(schema: unknown): unknown {
  if (!isObject(schema)) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (VALIDATOR_ONLY_KEYWORDS.has(key)) continue;
    if (key === 'properties' && isObject(value)) out[key] = mapValues(value, cleanSchema);
    else if ((key === 'items' || key === 'not' || key === 'additionalProperties') && isObject(value)) out[key] = cleanSchema(value);
    else if ((key === 'allOf' || key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) {
      // An allOf part that held only if/then says nothing once they are gone.
      const parts = value.map(cleanSchema).filter((part) => key !== 'allOf' || !isObject(part) || Object.keys(part).length > 0);
      if (parts.length > 0) out[key] = parts;
    } else out[key] = value;
  }
  return out;
}

function mapValues(record: Json, map: (value: unknown) => unknown): Json {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value)]));
}
