import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { TlsMaterial } from './base-app.js';
import { DAY_MS } from './time.js';

const VALIDITY_DAYS = 825;
/** The subject organisation of every certificate this process makes: how one it made is told from one supplied. */
const SELF_SIGNED_ORGANIZATION = 'Panguard self-signed';

/** A certificate and its private key, both PEM text. */
export interface PemPair {
  cert: string;
  key: string;
}

/**
 * The Manager's key pair: the configured files when they exist, otherwise a self-signed
 * ECDSA P-256 certificate for localhost, 127.0.0.1, ::1 and this machine's name, made once
 * and reused. Returns whether it was made now.
 */
export async function ensureSelfSignedCertificate(certFile: string, keyFile: string): Promise<TlsMaterial & { created: boolean }> {
  const onDisk = readPairIfPresent(certFile, keyFile);
  if (onDisk) return { ...onDisk, created: false };
  const made = await generateSelfSignedPair();
  writePairFiles(certFile, keyFile, made);
  return { ...made, created: true };
}

/**
 * Both files' text, or null when neither exists; one without the other is refused, since
 * making a new pair would silently replace the half an operator may have meant to supply.
 */
export function readPairIfPresent(certFile: string, keyFile: string): PemPair | null {
  const haveCert = existsSync(certFile);
  const haveKey = existsSync(keyFile);
  if (haveCert && haveKey) return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  if (haveCert !== haveKey) {
    throw new Error(`Only one of ${certFile} and ${keyFile} exists; provide both or remove the other so a new pair is made`);
  }
  return null;
}

/** A new self-signed ECDSA P-256 certificate (825 days) for localhost, 127.0.0.1, ::1 and this machine's name. */
export async function generateSelfSignedPair(): Promise<PemPair> {
  // Loaded only when a pair is to be made: its X.509 stack costs ~0.3 s of every start-up.
  const { generate } = await import('selfsigned');
  const host = hostname();
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: SELF_SIGNED_ORGANIZATION }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + VALIDITY_DAYS * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          ...(host && host !== 'localhost' ? [{ type: 2 as const, value: host }] : []),
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/**
 * Whether this process made the certificate (self-signed, with its own organisation name)
 * rather than an operator supplying it: only such a pair may be shared or replaced by the
 * cluster's copy. Text that is not a certificate counts as supplied, so it is left alone.
 */
export function isGeneratedSelfSigned(certPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    return cert.subject === cert.issuer && cert.subject.split('\n').includes(`O=${SELF_SIGNED_ORGANIZATION}`);
  } catch {
    return false;
  }
}

/** SHA-256 fingerprint as agents pin it (`AB:CD:…`); public, so fit for a log line. */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/**
 * Writes the pair, the key private (0600): each file through a temporary one renamed over
 * it, so a crash never leaves half a PEM that the next start would have to refuse.
 */
export function writePairFiles(certFile: string, keyFile: string, pair: PemPair): void {
  writeAtomically(keyFile, pair.key, 0o600);
  writeAtomically(certFile, pair.cert, 0o644);
}

function writeAtomically(file: string, text: string, mode: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode });
  renameSync(temporary, file);
}

export function readTlsFiles(certFile: string | undefined, keyFile: string | undefined): TlsMaterial | null {
  if (!certFile || !keyFile) return null;
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
