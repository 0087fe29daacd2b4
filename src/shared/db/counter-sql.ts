/**
 * Trigger SQL that moves a `(kind, key, n)` counter row by one; a row that reaches zero goes,
 * so a counter table holds only what exists. `key` is an SQL expression (e.g. `NEW.role`).
 */
export function moveCounterSql(table: string, kind: string, key: string, delta: 1 | -1): string {
  return delta > 0
    ? `INSERT INTO ${table} (kind, key, n) VALUES ('${kind}', ${key}, 1) ON CONFLICT (kind, key) DO UPDATE SET n = n + 1;`
    : `UPDATE ${table} SET n = n - 1 WHERE kind = '${kind}' AND key = ${key};
       DELETE FROM ${table} WHERE kind = '${kind}' AND key = ${key} AND n <= 0;`;
}
