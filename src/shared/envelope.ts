import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';

/** `:id` path parameters of the Auth Server and the Manager. */
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });

/**
 * The error body of every service. Serialised through this schema, so only the fields
 * listed here ever leave the process; `totpRequired` is the one extra the contract names.
 */
export const ErrorEnvelope = Type.Object(
  {
    ok: Type.Literal(false),
    error: Type.String(),
    code: Type.Optional(Type.String()),
    totpRequired: Type.Optional(Type.Boolean()),
  },
  { description: 'Error envelope' },
);
export type ErrorEnvelope = Static<typeof ErrorEnvelope>;

export const Pagination = Type.Object({
  total: Type.Integer({ minimum: 0 }),
  page: Type.Integer({ minimum: 1 }),
  limit: Type.Integer({ minimum: 1 }),
  pages: Type.Integer({ minimum: 0 }),
});
export type Pagination = Static<typeof Pagination>;

export function Envelope<T extends TSchema>(data: T) {
  return Type.Object({ ok: Type.Literal(true), data });
}

export function PagedEnvelope<T extends TSchema>(item: T) {
  return Type.Object({ ok: Type.Literal(true), data: Type.Array(item), pagination: Pagination });
}

/** Error schemas every route declares, so error bodies are serialised like successes. */
export const errorResponses = { '4xx': ErrorEnvelope, '5xx': ErrorEnvelope } as const;

/** Response schemas of a route answering 200 with `data`. */
export function replies<T extends TSchema>(data: T) {
  return { 200: Envelope(data), ...errorResponses };
}

/** Response schemas of a route answering 201 with `data`. */
export function createdReplies<T extends TSchema>(data: T) {
  return { 201: Envelope(data), ...errorResponses };
}

/** Response schemas of a paginated list route. */
export function pagedReplies<T extends TSchema>(item: T) {
  return { 200: PagedEnvelope(item), ...errorResponses };
}

export function ok<T>(data: T): { ok: true; data: T } {
  return { ok: true, data };
}

export function paged<T>(items: T[], total: number, page: number, limit: number): { ok: true; data: T[]; pagination: Pagination } {
  return { ok: true, data: items, pagination: { total, page, limit, pages: Math.ceil(total / limit) } };
}

export function errorBody(error: string, extra: Record<string, unknown> = {}): ErrorEnvelope {
  return { ok: false, error, ...extra };
}

/** `page`/`limit` query of the contract: out of range is a 400, never silently clamped. */
export function PageQuery(maxLimit = 200, defaultLimit = 50) {
  return {
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: maxLimit, default: defaultLimit })),
  };
}

/**
 * A string enum as a plain JSON-schema `enum`, so a bad value fails with one readable
 * error ("must be one of a, b") instead of TypeBox's union-of-literals noise.
 */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** ISO 8601 timestamp field of responses. */
export const Timestamp = Type.String({ format: 'date-time' });
