import { AppError } from './errors.js';

/**
 * U+0000 anywhere in a request's text. PostgreSQL cannot hold it in a text value at all, while
 * SQLite would store it: refusing it up front gives one answer on both engines (a 400, never a
 * 500 from deep inside a statement) and nothing half stored.
 */
export const nulCharacter = () => new AppError(400, 'Text may not contain the NUL character (U+0000)', 'NUL_CHARACTER');

const BACKSLASH = 0x5c;
const ESCAPED_NUL = '\\u0000';

/** A raw URL can carry NUL only percent-encoded (Node's parser refuses the byte itself). */
export function urlHasNul(url: string): boolean {
  return url.includes('%00');
}

/**
 * Whether JSON text decodes to a string holding U+0000: JSON must escape it as `\u0000`
 * (a raw control character is refused by JSON.parse), and that escape is real only when the
 * backslash before `u` is not itself escaped — `"C:\\u0000"` is a backslash and "u0000".
 */
export function jsonHasNul(text: string): boolean {
  for (let at = text.indexOf(ESCAPED_NUL); at !== -1; at = text.indexOf(ESCAPED_NUL, at + 1)) {
    let start = at;
    while (start > 0 && text.charCodeAt(start - 1) === BACKSLASH) start--;
    if ((at - start) % 2 === 0) return true;
  }
  return false;
}
