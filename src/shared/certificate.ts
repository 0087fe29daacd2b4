import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { TlsMaterial } from './base-app.js';
import { DAY_MS } from './time.js';

const VALIDITY_DAYS = 825;

/**
 * The Manager's key pair: the configured files when they exist, otherwise a self-signed
 * ECDSA P-256 certificate for localhost, 127.0.0.1, ::1 and this machine's name, made once
 * and reused. Returns whether it was made now.
 */
export async function ensureSelfSignedCertificate(certFile: string, keyFile: string): Promise<TlsMaterial & { created: boolean }> {
  const haveCert = existsSync(certFile);
  const haveKey = existsSync(keyFile);
  if (haveCert && haveKey) return { cert: readFileSync(certFile), key: readFileSync(keyFile), created: false };
  if (haveCert !== haveKey) {
    throw new Error(`Only one of ${certFile} and ${keyFile} exists; provide both or remove the other so a new pair is made`);
  }
  // Loaded only when a pair is to be made: its X.509 stack costs ~0.3 s of every start-up.
  const { generate } = await import('selfsigned');
  const host = hostname();
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'Panguard self-signed' }], {
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
  mkdirSync(path.dirname(certFile), { recursive: true });
  mkdirSync(path.dirname(keyFile), { recursive: true });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private, created: true };
}

export function readTlsFiles(certFile: string | undefined, keyFile: string | undefined): TlsMaterial | null {
  if (!certFile || !keyFile) return null;
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
