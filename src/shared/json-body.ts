import type { FastifyInstance } from 'fastify';
import { AppError } from './errors.js';
import { jsonHasNul, nulCharacter } from './nul-character.js';

/** No route needs more; the contract refuses anything deeper before looking at it. */
export const MAX_JSON_DEPTH = 32;

export const nestedTooDeeply = () => new AppError(400, 'Body is nested too deeply', 'BODY_TOO_DEEP');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether JSON text opens more than `max` arrays/objects inside one another. One pass, no
 * recursion, no allocation: it stops at the first level too many, so 8 MiB of `[` costs 33
 * steps. String contents are skipped with `indexOf` (a quote preceded by an odd run of
 * backslashes is escaped), so brackets inside strings never count. Text that is not JSON
 * may get any answer; JSON.parse refuses it afterwards.
 */
export function exceedsJsonDepth(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (;;) {
        const close = text.indexOf('"', i + 1);
        if (close === -1) return false;
        let before = close - 1;
        while (text.charCodeAt(before) === BACKSLASH) before--;
        i = close;
        if ((close - 1 - before) % 2 === 0) break;
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return false;
}

/**
 * Replaces the application/json parser: the depth and NUL checks on the raw text first, then
 * Fastify's own parser (empty body, malformed JSON, and `__proto__`/`constructor.prototype`
 * refused as before). Deep nesting thus never reaches validation, a size check or a
 * serialiser, any of which may recurse. Body limits (the app's and each route's) apply
 * while the text is read, as before.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // parseAs 'string' hands in a string; toString keeps the types honest at no cost.
    const text = body.toString();
    if (exceedsJsonDepth(text)) {
      done(nestedTooDeeply(), undefined);
      return;
    }
    if (jsonHasNul(text)) {
      done(nulCharacter(), undefined);
      return;
    }
    parse(request, text, done);
  });
}
