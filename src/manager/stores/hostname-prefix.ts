/**
 * A case-insensitive hostname prefix search as a range of a NOCASE index: hostnames from `q`
 * (ASCII letters lowered, as NOCASE compares) up to `q` with its last character's successor
 * (a BLOB sorts after all text: the bound when there is none). The range may hold a few
 * hostnames more (NOCASE folds `[` … `` ` `` between the letters), so LIKE, which matches
 * exactly that prefix ignoring ASCII case, checks each entry of the range.
 */
export function hostnamePrefix(q: string): { lo: string; hi: string | Buffer; like: string } {
  const lo = q.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const like = `${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const chars = [...lo];
  const last = chars.pop()!.codePointAt(0)!;
  if (last >= 0x10ffff) return { lo, hi: Buffer.from([0xff]), like };
  const next = last + 1 >= 0xd800 && last + 1 <= 0xdfff ? 0xe000 : last + 1;
  return { lo, hi: chars.join('') + String.fromCodePoint(next), like };
}
