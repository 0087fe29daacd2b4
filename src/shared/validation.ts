import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv and ajv-formats are CommonJS packages whose default export arrives wrapped under ESM.
const Ajv = AjvModule.default ?? AjvModule;
const addFormats = addFormatsModule.default ?? addFormatsModule;

function buildAjv(coerceTypes: boolean | 'array') {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional: true,
    allErrors: false,
    // parentSchema in errors lets the error handler use a field's own `errorMessage`.
    verbose: true,
    strict: false,
    // The schemas are built by TypeBox, never written by hand: checking each against Ajv's
    // meta-schema found nothing and cost ~150 ms of every start-up (six instances).
    validateSchema: false,
  });
  addFormats(ajv);
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  return ajv;
}

/**
 * Bodies are validated without type coercion (`123456` never becomes `"123456"`), while
 * querystring, params and headers, which are always strings on the wire, keep it.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  let strict: ReturnType<typeof buildAjv> | null = null;
  let coercing: ReturnType<typeof buildAjv> | null = null;
  return ({ schema, httpPart }) => {
    // Compiled on the route's first request, not at start-up: about a hundred routes' Ajv
    // code generation was a quarter of the time to listening, and most routes of
    // a given deployment are never called. Fastify reads `errors` off the function it holds.
    let compiled: ValidateFunction | null = null;
    const validate = ((data: unknown) => {
      if (!compiled) {
        const ajv = httpPart === 'body' ? (strict ??= buildAjv(false)) : (coercing ??= buildAjv('array'));
        compiled = ajv.compile(schema as object);
      }
      const valid = compiled(data);
      validate.errors = compiled.errors;
      return valid;
    }) as ((data: unknown) => boolean) & { errors?: ValidateFunction['errors'] };
    return validate as unknown as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}

/** Turns the first Ajv error into a sentence that names the field (`events[3].severity …`). */
export function describeValidationError(error: ErrorObject, dataVar: string): string {
  const custom = (error.parentSchema as { errorMessage?: unknown } | undefined)?.errorMessage;
  const field = fieldName(error);
  if (typeof custom === 'string' && error.keyword !== 'required') return custom;
  const where = field || dataVar;
  switch (error.keyword) {
    case 'required':
      return `${field ? `${field}.` : ''}${String(error.params.missingProperty)} is required`;
    case 'enum':
      return `${where} must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
    case 'type':
      return `${where} must be of type ${String(error.params.type)}`;
    case 'additionalProperties':
      return `${where} must not have the property ${String(error.params.additionalProperty)}`;
    default:
      return `${where} ${error.message ?? 'is invalid'}`;
  }
}

/** `/events/3/severity` → `events[3].severity`. */
function fieldName(error: ErrorObject): string {
  let out = '';
  for (const part of error.instancePath.split('/').slice(1)) {
    const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out ? `.${key}` : key;
  }
  return out;
}
