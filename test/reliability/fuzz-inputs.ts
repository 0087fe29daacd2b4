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
