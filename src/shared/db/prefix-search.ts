/**
 * A case-insensitive prefix search (hostnames, e-mails, names) as a range of an index that
 * folds ASCII case (NOCASE on SQLite, `ascii_lower` on PostgreSQL): values from `q` (ASCII
 * letters lowered, as both fold them) up to `q` with its last character's successor, or no
 * upper bound (null) when it has none. The range may hold a few values more (NOCASE folds
 * `[` … `` ` `` between the letters), so `like`, which matches exactly that prefix ignoring
 * ASCII case (its wildcards and escape taken literally), checks each entry.
 * Null, not a value above all text: PostgreSQL has none, and refuses to compare text with bytes.
 */
export function prefixSearch(q: string): { lo: string; hi: string | null; like: string } {
  const lo = q.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const like = `${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const chars = [...lo];
  const last = chars.pop()!.codePointAt(0)!;
  if (last >= 0x10ffff) return { lo, hi: null, like };
  const next = last + 1 >= 0xd800 && last + 1 <= 0xdfff ? 0xe000 : last + 1;
  return { lo, hi: chars.join('') + String.fromCodePoint(next), like };
}
