import { mkdirSync } from 'node:fs';
import closeWithGrace from 'close-with-grace';
import type { Logger } from 'pino';
import { ConfigError, derivedPaths, loadConfig, resolveConfig, type Config } from './config.js';
import { startServers } from './servers.js';
import { ensureSelfSignedCertificate, readTlsFiles } from './shared/certificate.js';
import { systemClock } from './shared/clock.js';
import { ensureClusterCertificate, ensureClusterSecrets } from './shared/cluster-secrets.js';
import { startCheckpointer } from './shared/db/checkpointer.js';
import { MigrationError } from './shared/db/migrate.js';
import { DatabaseOpenError, openConfiguredStorage } from './shared/db/open-storage.js';
import type { Storage } from './shared/db/storage.js';
import { createRootLogger } from './shared/logger.js';
import { ensureSecrets } from './shared/secrets.js';
import { keepTickObjectShape } from './shared/tick-shape.js';

const SHUTDOWN_GRACE_MS = 9_000;

function fail(message: string): never {
  process.stderr.write(`panguard: ${message}\n`);
  process.exit(1);
}

/**
 * The secrets the operator did not configure and the Manager's certificate when none was
 * supplied: on SQLite generated into DATA_DIR (secrets.json, certs/); on PostgreSQL shared by
 * every replica through the database (cluster_secrets), each replica writing the certificate
 * to its own files.
 */
async function keepSecrets(config: Config, storage: Storage, logger: Logger) {
  const given = {
    jwtSecret: config.auth.jwtSecret,
    managerAuthToken: config.manager.authToken,
    tcAdminToken: config.threatCloud.adminToken,
    totpEncryptionKey: config.auth.totpEncryptionKey,
  };
  const { tls, tlsCert, tlsKey } = config.manager;
  if (storage.engine === 'postgres') {
    const { secrets, generated } = await ensureClusterSecrets(storage, config.dataDir, given, logger);
    const managerTls = tls ? await ensureClusterCertificate(storage, tlsCert, tlsKey, logger) : null;
    return { secrets, generated, keptIn: 'the database (cluster_secrets)', managerTls };
  }
  const { secrets, generated, file } = ensureSecrets(config.dataDir, given);
  const made = tls ? await ensureSelfSignedCertificate(tlsCert, tlsKey) : null;
  return { secrets, generated, keptIn: `${file} (mode 0600)`, managerTls: made && { cert: made.cert, key: made.key, written: made.created } };
}

async function main(): Promise<void> {
  // Everything this process writes (database, WAL, secrets, keys) is for its owner only.
  process.umask(0o077);
  // Before the first request: Node's streams schedule ticks on every one (tick-shape.ts says why).
  keepTickObjectShape();
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const logger = createRootLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // The database first: one that cannot be reached or migrated stops the start before secrets or a certificate are made.
  let opened;
  try {
    opened = await openConfiguredStorage({ ...config, databasePath: derivedPaths(config).databasePath }, {
      // Message and code only: node-postgres hangs the whole client on the error (its settings,
      // prepared statements and the server's cancel key), which does not belong in a log.
      onIdleConnectionError: (error) =>
        logger.warn({ err: { message: error.message, code: (error as { code?: unknown }).code } }, 'an idle PostgreSQL connection failed; the pool opens another when needed'),
    });
  } catch (error) {
    if (error instanceof MigrationError) fail(`${error.message}. The database file was left unchanged.`);
    if (error instanceof DatabaseOpenError) fail(error.message);
    throw error;
  }
  const { storage, sqlite } = opened;
  let kept;
  try {
    kept = await keepSecrets(config, storage, logger);
  } catch (error) {
    await storage.close();
    fail(`cannot prepare the generated secrets or the Manager certificate: ${(error as Error).message}`);
  }
  const { secrets, generated, keptIn, managerTls } = kept;
  const resolved = resolveConfig(config, secrets);
  if (resolved.auth.scryptLogN < 17) {
    logger.warn({ scryptLogN: resolved.auth.scryptLogN }, 'AUTH_SCRYPT_LOG_N is below the production default of 17: meant for test suites only');
  }

  const tls = {
    auth: readTlsFiles(resolved.auth.tlsCert, resolved.auth.tlsKey),
    manager: managerTls,
    threatCloud: readTlsFiles(resolved.threatCloud.tlsCert, resolved.threatCloud.tlsKey),
  };

  if (opened.applied.length > 0) logger.info({ applied: opened.applied, engine: storage.engine }, 'database migrated');

  // SQLite only: PostgreSQL checkpoints by itself.
  const checkpointer = sqlite
    ? startCheckpointer(sqlite, {
        onFailure: (error) => logger.error({ err: error }, 'WAL checkpoint worker failed; SQLite checkpoints on commits again'),
      })
    : null;

  let servers;
  try {
    servers = await startServers({ config: resolved, storage, sqlite, clock: systemClock, logger, tls });
  } catch (error) {
    await checkpointer?.stop();
    await storage.close();
    fail(`could not start listening: ${(error as Error).message}`);
  }

  const lines = [
    '',
    'Panguard API server is running',
    `  Auth Server   ${servers.urls.auth}`,
    `  Manager       ${servers.urls.manager}${managerTls?.written ? `  (self-signed certificate written to ${resolved.manager.tlsCert})` : ''}`,
    `  Threat Cloud  ${servers.urls.threatCloud}`,
    `  API docs      <service URL>/docs`,
  ];
  if (generated.includes('managerAuthToken')) {
    lines.push('', `  Manager token (shown once): ${secrets.managerAuthToken}`);
  }
  lines.push(`  Generated secrets are kept in ${keptIn}.`, '');
  // The banner goes to the terminal, never through the logger: no secret reaches the log.
  process.stdout.write(`${lines.join('\n')}\n`);

  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger: false }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an unexpected error');
    else logger.info({ signal }, 'shutting down');
    await servers.close();
    await checkpointer?.stop();
    await storage.close();
  });
}

await main();
