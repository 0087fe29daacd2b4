import { readFileSync } from 'node:fs';
import type { Config } from '../../config.js';
import type { PostgresStorageOptions } from './postgres-storage.js';

/**
 * The pool options DATABASE_* describe. `verify-full` checks the server's certificate and
 * host name (against DATABASE_TLS_CA, or the system's authorities); `require` only encrypts,
 * which protects from listeners but not from someone who can redirect the connection.
 */
export function postgresStorageOptions(database: Config['database'] & { url: string }): PostgresStorageOptions {
  return {
    connectionString: database.url,
    poolSize: database.poolSize,
    statementTimeoutMs: database.statementTimeoutMs,
    ssl:
      database.tls === 'disable'
        ? false
        : database.tls === 'require'
          ? { rejectUnauthorized: false }
          : { rejectUnauthorized: true, ...(database.tlsCa ? { ca: readFileSync(database.tlsCa, 'utf8') } : {}) },
  };
}

/** A connection failure as an operator can act on it: TLS refusals name the setting that decides. */
export function explainedConnectionError(error: Error): string {
  if (/does not support SSL/i.test(error.message)) {
    return `${error.message} (DATABASE_TLS is verify-full by default; set DATABASE_TLS=disable only if the connection never leaves this machine or a trusted network)`;
  }
  if (/self[- ]signed|unable to verify|certificate/i.test(error.message)) {
    return `${error.message} (with DATABASE_TLS=verify-full the server's certificate must be signed by DATABASE_TLS_CA or a system authority and name the host)`;
  }
  return error.message;
}
