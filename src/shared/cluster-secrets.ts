import path from 'node:path';
import type { TlsMaterial } from './base-app.js';
import {
  fingerprintOf,
  generateSelfSignedPair,
  isGeneratedSelfSigned,
  readPairIfPresent,
  writePairFiles,
  type PemPair,
} from './certificate.js';
import { defineStatement, type Storage, type Transaction } from './db/storage.js';
import { generateSecret, readSecretsFile, SECRET_NAMES, SECRETS_FILE, type GivenSecrets, type SecretName, type Secrets } from './secrets.js';

/**
 * On PostgreSQL several replicas share one database, so what each would otherwise generate for
 * itself (the JWT key, the TOTP encryption key, the service tokens, the Manager's self-signed
 * certificate) is generated once and kept in `cluster_secrets`: a JWT signed by one replica is
 * accepted by the others, a TOTP secret one encrypted the others can read, and agents pinning
 * the Manager's certificate see one certificate whichever replica answers. SQLite, one process
 * with the file beside the database, keeps `DATA_DIR/secrets.json` (`ensureSecrets`).
 */

/** Every read-then-insert of `cluster_secrets` runs under it: replicas starting together generate once. */
const SECRETS_LOCK = 'cluster:secrets';
const CERT_NAME = 'managerTlsCert';
const KEY_NAME = 'managerTlsKey';

const selectSecrets = defineStatement<void, { name: string; value: string }>(`SELECT name, value FROM cluster_secrets`);
const insertSecret = defineStatement<{ name: string; value: string; createdAt: string }>(
  `INSERT INTO cluster_secrets (name, value, created_at) VALUES (@name, @value, @createdAt) ON CONFLICT (name) DO NOTHING`,
);

/** Where warnings go (the root logger in the process): names and files only, never a value. */
export interface SecretsLog {
  warn(details: Record<string, unknown>, message: string): void;
  info(details: Record<string, unknown>, message: string): void;
}

export interface ClusterSecrets {
  secrets: Secrets;
  /** Names this call generated (the banner shows a generated Manager token once, here). */
  generated: SecretName[];
  /** Names taken into the database from this replica's `secrets.json`. */
  imported: SecretName[];
}

async function storedValues(q: Storage | Transaction): Promise<Map<string, string>> {
  return new Map((await q.all(selectSecrets)).map((row) => [row.name, row.value]));
}

/**
 * The secrets to use on PostgreSQL: those configured by environment as given (never stored);
 * the others from `cluster_secrets`, where, in one transaction under the lock, what is missing
 * is taken from this replica's `secrets.json` (a single replica moving to several keeps its
 * sessions, TOTP secrets and tokens) or else generated. The database always wins over the
 * file, which is only read: a name on which they disagree is logged, without either value.
 */
export async function ensureClusterSecrets(storage: Storage, dataDir: string, given: GivenSecrets, log: SecretsLog): Promise<ClusterSecrets> {
  const file = path.join(dataDir, SECRETS_FILE);
  const fromFile = readSecretsFile(file);
  const wanted = SECRET_NAMES.filter((name) => !given[name]);
  const createdAt = new Date().toISOString();
  const outcome = await storage.transaction({ durable: true, locks: [SECRETS_LOCK] }, async (tx) => {
    const stored = await storedValues(tx);
    const generated: SecretName[] = [];
    const imported: SecretName[] = [];
    const ignored: SecretName[] = [];
    const values = new Map<SecretName, string>();
    for (const name of wanted) {
      const inDatabase = stored.get(name);
      const inFile = fromFile[name];
      if (inDatabase !== undefined) {
        if (inFile !== undefined && inFile !== inDatabase) ignored.push(name);
        values.set(name, inDatabase);
        continue;
      }
      const value = inFile ?? generateSecret(name);
      (inFile === undefined ? generated : imported).push(name);
      values.set(name, value);
      await tx.run(insertSecret, { name, value, createdAt });
    }
    return { generated, imported, ignored, values };
  });
  if (outcome.imported.length > 0) {
    log.info({ names: outcome.imported, file }, 'secrets from this replica\'s secrets.json were taken into the database (cluster_secrets), which every replica now uses');
  }
  if (outcome.ignored.length > 0) {
    log.warn(
      { names: outcome.ignored, file },
      'secrets.json holds values that differ from the database (cluster_secrets): the database\'s are used and the file\'s copies are ignored',
    );
  }
  const secrets = Object.fromEntries(SECRET_NAMES.map((name) => [name, given[name] || outcome.values.get(name)!])) as Secrets;
  return { secrets, generated: outcome.generated, imported: outcome.imported };
}

export interface ClusterCertificate extends TlsMaterial {
  /** Whether this call wrote the files (the cluster's pair, made now or by another replica). */
  written: boolean;
  /** Whether this replica made the pair now. */
  generated: boolean;
}

/**
 * The Manager's key pair on PostgreSQL. Files an operator supplied (anything but a certificate
 * this process made itself) are used as they are, and the database is not touched. Otherwise
 * the self-signed pair kept in `cluster_secrets` is written to this replica's files (the key
 * 0600): made once under the lock by the first replica, or taken from the files of a single
 * replica that made one before it ran beside others. A self-signed pair on disk that differs
 * from the database's is replaced by it, with a warning naming both fingerprints.
 */
export async function ensureClusterCertificate(storage: Storage, certFile: string, keyFile: string, log: SecretsLog): Promise<ClusterCertificate> {
  const onDisk = readPairIfPresent(certFile, keyFile);
  if (onDisk && !isGeneratedSelfSigned(onDisk.cert)) return { ...onDisk, written: false, generated: false };
  let shared = pairIn(await storedValues(storage));
  let generated = false;
  if (!shared) {
    // Made before the transaction, which awaits nothing but its own statements; a replica that
    // loses the race below throws its pair away.
    const candidate = onDisk ?? (await generateSelfSignedPair());
    const outcome = await storage.transaction({ durable: true, locks: [SECRETS_LOCK] }, async (tx) => {
      const existing = pairIn(await storedValues(tx));
      if (existing) return { pair: existing, inserted: false };
      const createdAt = new Date().toISOString();
      await tx.run(insertSecret, { name: CERT_NAME, value: candidate.cert, createdAt });
      await tx.run(insertSecret, { name: KEY_NAME, value: candidate.key, createdAt });
      return { pair: candidate, inserted: true };
    });
    shared = outcome.pair;
    generated = outcome.inserted && !onDisk;
  }
  if (onDisk && onDisk.cert === shared.cert && onDisk.key === shared.key) return { ...shared, written: false, generated: false };
  if (onDisk) {
    log.warn(
      { certFile, replaced: fingerprintOf(onDisk.cert), used: fingerprintOf(shared.cert) },
      'the self-signed Manager certificate in this replica\'s files differs from the one kept in the database (cluster_secrets): the database\'s is written over it; agents that pinned the replaced one must pin the new one',
    );
  }
  writePairFiles(certFile, keyFile, shared);
  return { ...shared, written: true, generated };
}

/** The shared pair, or null while none is kept; half a pair means the table was edited by hand. */
function pairIn(stored: Map<string, string>): PemPair | null {
  const cert = stored.get(CERT_NAME);
  const key = stored.get(KEY_NAME);
  if (cert === undefined && key === undefined) return null;
  if (cert === undefined || key === undefined) {
    throw new Error(`cluster_secrets holds only one of ${CERT_NAME} and ${KEY_NAME}; delete the other row so the pair is made again`);
  }
  return { cert, key };
}

/** One kept secret (what `panguard token show` prints on PostgreSQL), or undefined while none is kept. */
export async function readClusterSecret(storage: Storage, name: SecretName): Promise<string | undefined> {
  return (await storedValues(storage)).get(name);
}
