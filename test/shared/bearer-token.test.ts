import t from 'tap';
import { bearerToken } from '../../src/shared/tokens.js';

/** The rule as it was written first; the character loop must answer exactly as it does. */
const REFERENCE = /^Bearer ([\x21-\x7e]{1,512})$/i;
const reference = (header: string | undefined): string | null => {
  if (!header) return null;
  const match = REFERENCE.exec(header.trim());
  return match ? match[1]! : null;
};

/** A fixed-seed generator (mulberry32): the same inputs on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

// Letters whose case folds near ASCII (long s, Kelvin sign, dotless i), spaces of every kind,
// the edges of the allowed range, and ordinary token characters.
const ODD = ['ſ', 'K', 'ı', 'İ', 'é', '\u00a0', '\u2028', '\ufeff', '\t', ' ', '\x20', '\x21', '\x7e', '\x7f', '\x00', '\n', '\r'];
const SCHEMES = ['Bearer', 'bearer', 'BEARER', 'bEaReR', 'Bearer ', 'Bearer\t', 'Bearerx', 'Bear', 'Basic', 'ſearer', 'Bearér', ''];
const TOKEN_CHARS = 'abcXYZ019.-_~!"#$%&\'()*+,/:;<=>?@[\\]^`{|}';

t.test('the character loop answers as the regular expression did', async (t) => {
  const cases: Array<string | undefined> = [
    undefined,
    '',
    ' ',
    'Bearer',
    'Bearer ',
    'Bearer  x',
    'Bearer x',
    ' Bearer x ',
    '\tBearer x\n',
    'Bearer x y',
    'Bearer\tx',
    'bearer X',
    `Bearer ${'a'.repeat(511)}`,
    `Bearer ${'a'.repeat(512)}`,
    `Bearer ${'a'.repeat(513)}`,
    ` Bearer ${'a'.repeat(512)} `,
    'Bearer \x7f',
    'Bearer \x21\x7e',
    'Bearer é',
    'ſearer x',
    'Bearer\u00a0x',
    '\ufeffBearer x\u2028',
  ];
  const random = seeded(13);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const tokenChars = [...TOKEN_CHARS];
  for (let i = 0; i < 20_000; i++) {
    const length = pick([0, 1, 2, 5, 40, 200, 510, 511, 512, 513, 514]);
    const token = Array.from({ length }, () => pick(tokenChars));
    // A third of the tokens carry one character from outside the range, anywhere.
    if (length > 0 && random() < 0.3) token[Math.floor(random() * length)] = pick(ODD);
    const scheme = random() < 0.6 ? pick(SCHEMES.slice(0, 4)) : pick(SCHEMES);
    const around = () => (random() < 0.2 ? pick([' ', '\t', '\u00a0', '\n', '\ufeff']) : '');
    cases.push(`${around()}${scheme}${random() < 0.9 ? ' ' : pick(ODD)}${token.join('')}${around()}`);
  }
  let differing = 0;
  let accepted = 0;
  for (const header of cases) {
    const expected = reference(header);
    if (expected !== null) accepted++;
    if (bearerToken(header) !== expected) {
      differing++;
      if (differing <= 5) t.equal(bearerToken(header), expected, JSON.stringify(header));
    }
  }
  t.equal(differing, 0, `no header of ${cases.length} answered differently`);
  // Both answers occur often enough for the comparison to mean something.
  t.ok(accepted > 3_000 && accepted < cases.length - 3_000, `${accepted} accepted of ${cases.length}`);
});

t.test('what a caller gets', async (t) => {
  t.equal(bearerToken('Bearer abc.def'), 'abc.def');
  t.equal(bearerToken('BEARER abc'), 'abc', 'the scheme in any letter case');
  t.equal(bearerToken('  Bearer abc  '), 'abc', 'whitespace around the value is dropped');
  t.equal(bearerToken(`Bearer ${'t'.repeat(512)}`), 't'.repeat(512), '512 characters are accepted');
  t.equal(bearerToken(`Bearer ${'t'.repeat(513)}`), null, '513 are not');
  t.equal(bearerToken('Bearer  abc'), null, 'one space only');
  t.equal(bearerToken('Bearer ab c'), null, 'no space inside the token');
  t.equal(bearerToken('Bearer abcé'), null, 'ASCII only');
  t.equal(bearerToken('Basic abc'), null);
});
