/**
 * SQL as the stores write it (SQLite's `@name` or `?` parameters) turned into PostgreSQL's
 * numbered `$n` parameters, once per statement. Quotes and comments are skipped so an `@` or
 * a `?` inside a string literal, a quoted identifier or a comment stays what it is.
 */
export interface NumberedSql {
  /** The SQL with `$1`, `$2`… in place of the parameters. */
  readonly text: string;
  /** For `@name` SQL, the name each `$n` stands for (a repeated name keeps its number); null for `?` SQL. */
  readonly names: readonly string[] | null;
  /** How many values the statement takes. */
  readonly count: number;
}

const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_]/;

/** Index just past the end of the quoted text or comment that starts at `at`, or `at` if none starts there. */
function skipQuotedOrComment(sql: string, at: number): number {
  const char = sql[at];
  if (char === "'" || char === '"') {
    // A doubled quote inside is an escaped quote: leaving and re-entering handles it.
    const end = sql.indexOf(char, at + 1);
    return end === -1 ? sql.length : end + 1;
  }
  if (char === '-' && sql[at + 1] === '-') {
    const end = sql.indexOf('\n', at);
    return end === -1 ? sql.length : end + 1;
  }
  if (char === '/' && sql[at + 1] === '*') {
    const end = sql.indexOf('*/', at + 2);
    return end === -1 ? sql.length : end + 2;
  }
  return at;
}

/** Applies `rewrite` to the SQL outside string literals, quoted identifiers and comments. */
function outsideQuotes(sql: string, rewrite: (code: string) => string): string {
  let out = '';
  let code = '';
  let at = 0;
  while (at < sql.length) {
    const skipped = skipQuotedOrComment(sql, at);
    if (skipped === at) {
      code += sql[at];
      at++;
      continue;
    }
    out += rewrite(code) + sql.slice(at, skipped);
    code = '';
    at = skipped;
  }
  return out + rewrite(code);
}

/**
 * SQLite's planner hints, which mean nothing (or something else) to PostgreSQL, removed once
 * per statement: `INDEXED BY x` and `NOT INDEXED` pin or forbid an index; a unary `+` before a
 * column keeps SQLite from using an index on it; `CROSS JOIN t ON …` keeps the join order
 * (PostgreSQL's CROSS JOIN takes no ON). PostgreSQL's planner chooses by its own statistics.
 */
export function withoutPlannerHints(sql: string): string {
  return outsideQuotes(sql, (code) =>
    code
      .replace(/\s+INDEXED\s+BY\s+\w+/gi, '')
      .replace(/\s+NOT\s+INDEXED\b/gi, '')
      .replace(/\bCROSS\s+JOIN(\s+\w+(?:\s+(?:AS\s+)?\w+)?\s+ON)\b/gi, 'JOIN$1')
      // A binary plus has an operand before it; a hint follows `(`, a comma, `=`, or a keyword's space.
      .replace(/(^|[\s(,=])\+(?=[A-Za-z_])/g, '$1'),
  );
}

export function toNumberedParameters(sql: string): NumberedSql {
  const names: string[] = [];
  let positional = 0;
  let text = '';
  let at = 0;
  while (at < sql.length) {
    const skipped = skipQuotedOrComment(sql, at);
    if (skipped !== at) {
      text += sql.slice(at, skipped);
      at = skipped;
      continue;
    }
    const char = sql[at]!;
    // `@name` and `:name` (both SQLite spellings of a named parameter); `::` is PostgreSQL's cast.
    const named = (char === '@' || (char === ':' && sql[at - 1] !== ':' && sql[at + 1] !== ':')) && NAME_START.test(sql[at + 1] ?? '');
    if (named) {
      let end = at + 2;
      while (end < sql.length && NAME_PART.test(sql[end]!)) end++;
      const name = sql.slice(at + 1, end);
      let index = names.indexOf(name);
      if (index === -1) index = names.push(name) - 1;
      text += `$${index + 1}`;
      at = end;
    } else if (char === '?') {
      // SQLite's `?NNN` would need a different numbering; no store uses it, so refuse it loudly.
      if (/[0-9]/.test(sql[at + 1] ?? '')) throw new Error(`Numbered ?NNN parameters are not supported: ${sql}`);
      positional++;
      text += `$${positional}`;
      at++;
    } else {
      text += char;
      at++;
    }
  }
  if (names.length > 0 && positional > 0) throw new Error(`A statement mixes @name and ? parameters: ${sql}`);
  return names.length > 0 ? { text, names, count: names.length } : { text, names: null, count: positional };
}

/** The values in `$n` order, refusing a missing one as better-sqlite3 does, so both engines fail alike. */
export function numberedValues(sql: NumberedSql, params: unknown): unknown[] {
  if (sql.names === null) {
    // An empty object binds nothing, as better-sqlite3 accepts it for a statement without parameters.
    const values = params === undefined || (sql.count === 0 && isEmptyObject(params)) ? [] : params;
    if (!Array.isArray(values) || values.length !== sql.count) {
      throw new RangeError(`The statement takes ${sql.count} positional values`);
    }
    return values;
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new TypeError('The statement takes named parameters: pass an object');
  }
  const named = params as Record<string, unknown>;
  return sql.names.map((name) => {
    if (!(name in named)) throw new RangeError(`Missing named parameter "${name}"`);
    // better-sqlite3 binds a present but undefined value as NULL; so does this.
    return named[name] ?? null;
  });
}

/**
 * The text that writes `rows` rows in one statement: the statement's one `VALUES (…)` tuple
 * repeated, each copy's numbers shifted by the statement's value count. Takes an INSERT, or
 * an UPDATE that joins its rows from `FROM (VALUES (…)) AS v(…)`, whose parameters all sit in
 * that one tuple (a `$n` in `ON CONFLICT … DO UPDATE` or a WHERE could not be repeated per row).
 */
export function multiRowText(sql: NumberedSql, rows: number): string {
  const text = sql.text;
  const values = /\bVALUES\s*\(/i.exec(text);
  if (!/^\s*(INSERT|UPDATE)\b/i.test(text) || values === null) throw new Error(`Only INSERT … VALUES (…) or UPDATE … FROM (VALUES (…)) runs as a batch: ${text}`);
  const open = values.index + values[0].length - 1;
  let depth = 0;
  let close = -1;
  for (let at = open; at < text.length && close === -1; ) {
    const skipped = skipQuotedOrComment(text, at);
    if (skipped !== at) {
      at = skipped;
      continue;
    }
    if (text[at] === '(') depth++;
    else if (text[at] === ')' && --depth === 0) close = at;
    at++;
  }
  if (close === -1) throw new Error(`Unbalanced VALUES tuple: ${text}`);
  const tuple = text.slice(open, close + 1);
  const before = text.slice(0, open);
  const after = text.slice(close + 1);
  if (/\$\d/.test(before + after)) throw new Error(`A batched INSERT takes its values in its VALUES tuple only: ${text}`);
  const copies = Array.from({ length: rows }, (_, row) => tuple.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + row * sql.count}`));
  return `${before}${copies.join(', ')}${after}`;
}

function isEmptyObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}
