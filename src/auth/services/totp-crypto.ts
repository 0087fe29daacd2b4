import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';

/** RFC 6238 parameters of the contract. */
export const TOTP_PERIOD_SECONDS = 30;
const TOTP_DIGITS = 6;
const TOTP_WINDOW = 1;
export const BACKUP_CODE_COUNT = 10;
const BACKUP_CODE_LENGTH = 10;
const BACKUP_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function otpauthUrl(secretBase32: string, email: string): string {
  return totpFor(secretBase32, email).toString();
}

function totpFor(secretBase32: string, label = 'user'): TOTP {
  return new TOTP({
    issuer: 'Panguard',
    label,
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    secret: Secret.fromBase32(secretBase32),
  });
}

/**
 * The time step a code belongs to when it is valid within ±1 step of `nowMs`, else null.
 * The caller refuses a step at or before the last one used (replay).
 */
export function matchingStep(secretBase32: string, code: string, nowMs: number): number | null {
  const delta = totpFor(secretBase32).validate({ token: code, timestamp: nowMs, window: TOTP_WINDOW });
  if (delta === null) return null;
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS) + delta;
}

/** The code of a secret at a time: what an authenticator app shows (tests use it too). */
export function codeAt(secretBase32: string, nowMs: number): string {
  return totpFor(secretBase32).generate({ timestamp: nowMs });
}

/**
 * TOTP secrets at rest: AES-256-GCM under TOTP_ENCRYPTION_KEY, bound to the user id as
 * associated data so a ciphertext copied to another account does not decrypt.
 * Stored as `v1:<iv>:<tag>:<ciphertext>` in base64.
 */
export function createSecretBox(keyHex: string) {
  const key = Buffer.from(keyHex, 'hex');
  if (key.length !== 32) throw new Error('TOTP encryption key must be 32 bytes');
  return {
    seal(plain: string, userId: string): string {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(userId));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':');
    },
    open(sealed: string, userId: string): string {
      const [version, iv, tag, body] = sealed.split(':');
      if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('Unknown TOTP secret format');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(userId));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
    },
  };
}
export type SecretBox = ReturnType<typeof createSecretBox>;

export function newBackupCodes(): string[] {
  const codes: string[] = [];
  while (codes.length < BACKUP_CODE_COUNT) {
    let code = '';
    while (code.length < BACKUP_CODE_LENGTH) {
      for (const byte of randomBytes(BACKUP_CODE_LENGTH * 2)) {
        // 252 = 7·36: rejection sampling keeps every character equally likely.
        if (byte < 252 && code.length < BACKUP_CODE_LENGTH) code += BACKUP_ALPHABET[byte % 36];
      }
    }
    if (!codes.includes(code)) codes.push(code);
  }
  return codes;
}

/**
 * Backup codes are stored as HMAC-SHA256 under a key derived from the TOTP encryption key:
 * a stolen database alone does not allow an offline search of the ~52-bit code space.
 */
export function createBackupCodeHasher(keyHex: string) {
  const pepper = createHmac('sha256', Buffer.from(keyHex, 'hex')).update('panguard backup codes v1').digest();
  const digest = (code: string) => createHmac('sha256', pepper).update(code).digest();
  return {
    hash(code: string): string {
      return digest(code).toString('hex');
    },
    matches(code: string, storedHex: string): boolean {
      const stored = Buffer.from(storedHex, 'hex');
      const candidate = digest(code);
      return stored.length === candidate.length && timingSafeEqual(stored, candidate);
    },
  };
}
export type BackupCodeHasher = ReturnType<typeof createBackupCodeHasher>;
