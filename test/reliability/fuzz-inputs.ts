/**
 * Inputs for the fuzzer: values generated from a route's JSON schema (so most requests get
 * past the first check and reach deeper code) and hostile shapes that no schema allows.
 * Deterministic for a seed, so a failure can be replayed.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: Json[];
  const?: Json;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  format?: string;
  pattern?: string;
}

/** mulberry32: small, fast, seedable. */
export function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  };
}
export type Random = ReturnType<typeof createRandom>;

export const HOSTILE_STRINGS = [
  '',
  ' ',
  "' OR '1'='1' --",
  '"; DROP TABLE users; --',
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%00',
  '\u0000',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '😀👩‍👩‍👧‍👦🏳️‍🌈',
  '\ud800',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '{{7*7}}',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '__proto__',
  'constructor',
  'x'.repeat(10_000),
  'A'.repeat(70_000),
  '\r\nSet-Cookie: a=b',
  '0x41',
  '2026-13-45T99:99:99Z',
];

export const HOSTILE_VALUES: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  -0,
  2 ** 53 + 1,
  1e308,
  -1e308,
  [],
  {},
  [[[[[[]]]]]],
  { __proto__: { admin: true } } as unknown as Json,
  ...HOSTILE_STRINGS,
];

function formatted(format: string | undefined, random: Random): string | undefined {
  switch (format) {
    case 'email':
      return `fuzz${random.int(0, 1e6)}@example.com`;
    case 'date-time':
      return new Date(Date.UTC(2026, random.int(0, 11), random.int(1, 28))).toISOString();
    case 'ipv4':
      return `198.51.100.${random.int(1, 254)}`;
    case 'ipv6':
      return `2001:db8::${random.int(1, 65535).toString(16)}`;
    case 'uri':
      return `https://fuzz.example/${random.int(0, 1e6)}`;
    default:
      return undefined;
  }
}

/** A value the schema (mostly) accepts. */
export function generateValid(schema: JsonSchema | undefined, random: Random, depth = 0): Json {
  if (!schema || depth > 6) return null;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return random.pick(schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return generateValid(random.pick(alternatives), random, depth + 1);
  if (schema.allOf) return generateValid(Object.assign({}, ...schema.allOf) as JsonSchema, random, depth + 1);
  const type = Array.isArray(schema.type) ? random.pick(schema.type) : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, Json> = {};
      for (const [key, property] of Object.entries(schema.properties ?? {})) {
        if (schema.required?.includes(key) || random.chance(0.5)) out[key] = generateValid(property, random, depth + 1);
      }
      return out;
    }
    case 'array': {
      const count = random.int(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, (schema.minItems ?? 0) + 3));
      return Array.from({ length: count }, () => generateValid(schema.items, random, depth + 1));
    }
    case 'integer':
      return random.int(schema.minimum ?? 0, Math.min(schema.maximum ?? 1000, (schema.minimum ?? 0) + 1000));
    case 'number': {
      const min = schema.minimum ?? 0;
      const max = schema.maximum ?? min + 100;
      return min + random.next() * (max - min);
    }
    case 'boolean':
      return random.chance(0.5);
    case 'null':
      return null;
    case 'string': {
      const text = formatted(schema.format, random);
      if (text) return text;
      const length = random.int(schema.minLength ?? 1, Math.min(schema.maxLength ?? 16, (schema.minLength ?? 1) + 16));
      return Array.from({ length }, () => random.pick('abcdefghijklmnopqrstuvwxyz0123456789-_.'.split(''))).join('');
    }
    default:
      return random.pick(['fuzz', 1, true, null]);
  }
}

/** Replaces one field somewhere in a value with something hostile. */
export function mutate(value: Json, random: Random): Json {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const copy: Record<string, Json> = { ...value };
    if (keys.length === 0 || random.chance(0.2)) {
      copy[random.pick(['__proto__', 'constructor', 'prototype', 'toString', 'x'.repeat(300)])] = random.pick(HOSTILE_VALUES);
      return copy;
    }
    const key = random.pick(keys);
    copy[key] = random.chance(0.4) ? mutate(copy[key]!, random) : random.pick(HOSTILE_VALUES);
    return copy;
  }
  if (Array.isArray(value)) {
    if (value.length === 0 || random.chance(0.3)) return random.chance(0.5) ? Array.from({ length: random.int(501, 2000) }, () => value[0] ?? 1) : [...value, random.pick(HOSTILE_VALUES)];
    const copy = [...value];
    const index = random.int(0, copy.length - 1);
    copy[index] = mutate(copy[index]!, random);
    return copy;
  }
  return random.pick(HOSTILE_VALUES);
}

/** `[[[…]]]` nested `depth` times: a parser-stack attack. */
export function deeplyNested(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** Raw bodies no JSON parser should accept, or that stress it. */
export function hostileRawBodies(random: Random): Buffer[] {
  const valid = JSON.stringify({ a: 1, b: 'text' });
  return [
    Buffer.from(valid.slice(0, random.int(1, valid.length - 1))),
    Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    Buffer.from(deeplyNested(random.int(1000, 20000))),
    Buffer.from('{"a":1,"a":2,"__proto__":{"polluted":true}}'),
    Buffer.from('NaN'),
    Buffer.from('\ufeff{"a":1}'),
    Buffer.from('{"a": 1e99999}'),
    Buffer.from('null'),
    Buffer.from('"just a string"'),
  ];
}

/** Where `deeplyNestedBody` puts its nesting before serialising. */
const DEEP_MARK = '@@fuzz-deep@@';

/**
 * A body the route's schema would (mostly) accept, with arrays nested past the contract's 32
 * levels put in at a random place: a field of the top object or of an object inside it, so
 * the nesting sits exactly where free-form fields (details, metadata, context) live.
 * Every such body must be refused with 400 "Body is nested too deeply".
 */
export function deeplyNestedBody(value: Json, random: Random): string {
  const levels = random.pick([33, 34, 40, 100, random.int(1000, 200_000)]);
  const target: Record<string, Json> = value && typeof value === 'object' && !Array.isArray(value) ? { ...value } : { value };
  const inner = Object.entries(target).find(([, v]) => v && typeof v === 'object' && !Array.isArray(v));
  if (inner && random.chance(0.5)) target[inner[0]] = { ...(inner[1] as Record<string, Json>), [`deep${random.int(0, 99)}`]: DEEP_MARK };
  else target[random.pick(['details', 'metadata', 'context', 'extra', ...Object.keys(target)])] = DEEP_MARK;
  return JSON.stringify(target).replace(`"${DEEP_MARK}"`, deeplyNested(levels));
}

/**
 * Raw requests Node's HTTP parser refuses before any route sees them (for `path`, a route
 * that takes a JSON body), each with the status the envelope must carry. None leaves the
 * parser waiting for more bytes, so each is answered at once.
 */
export function rawProtocolAttacks(path: string, random: Random): Array<{ label: string; request: string; status: 400 | 431 }> {
  const head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n`;
  return [
    { label: 'two Content-Length values', request: `${head}Content-Length: 2\r\nContent-Length: ${random.int(3, 99)}\r\n\r\n{}`, status: 400 },
    { label: 'Content-Length and Transfer-Encoding', request: `${head}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400 },
    { label: 'a Content-Length that is not a number', request: `${head}Content-Length: 1x\r\n\r\n{}`, status: 400 },
    { label: 'an unknown transfer coding before chunked', request: `${head}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, status: 400 },
    { label: 'a bad chunk size', request: `${head}Transfer-Encoding: chunked\r\n\r\n${random.pick(['zz', '-1', '0x10', 'fffffffffffffffffff'])}\r\n{}\r\n0\r\n\r\n`, status: 400 },
    { label: 'a malformed request line', request: `${random.pick(['HELLO THERE', 'GET', 'GET /health HTTP/9.9', 'G\u0000T / HTTP/1.1', '\u0016\u0003\u0001 / HTTP/1.1'])}\r\n\r\n`, status: 400 },
    { label: 'a space in a header name', request: `GET /health HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n`, status: 400 },
    { label: 'a control character in a header value', request: `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Evil: a\u0000b\r\n\r\n`, status: 400 },
    { label: 'headers over 16 KiB', request: `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(random.int(17, 64) * 1024)}\r\n\r\n`, status: 431 },
    { label: 'many headers over 16 KiB in all', request: `GET /health HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 600 }, (_, i) => `X-H${i}: ${'b'.repeat(30)}\r\n`).join('')}\r\n`, status: 431 },
  ];
}
