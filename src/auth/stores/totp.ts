import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { defineStatement, type Transaction, type Storage } from '../../shared/db/storage.js';

export interface TotpRecord {
  userId: string;
  secretEncrypted: string;
  enabled: boolean;
  lastUsedStep: number | null;
}

interface TotpRow {
  user_id: string;
  secret_encrypted: string;
  enabled: number;
  last_used_step: number | null;
}

const GET = defineStatement<[userId: string], TotpRow>(`SELECT user_id, secret_encrypted, enabled, last_used_step FROM totp_secrets WHERE user_id = ?`);
const UPSERT_PENDING = defineStatement<{ userId: string; secret: string; now: string }>(
  `INSERT INTO totp_secrets (user_id, secret_encrypted, enabled, last_used_step, created_at)
     VALUES (@userId, @secret, 0, NULL, @now)
     ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = @secret, enabled = 0, last_used_step = NULL, created_at = @now, enabled_at = NULL
     WHERE totp_secrets.enabled = 0`,
);
const ENABLE = defineStatement<[now: string, step: number, userId: string]>(`UPDATE totp_secrets SET enabled = 1, enabled_at = ?, last_used_step = ? WHERE user_id = ? AND enabled = 0`);
// Only a newer step moves forward: a concurrent replay of the same code finds no row to update.
const USE_STEP = defineStatement<{ step: number; userId: string }>(
  `UPDATE totp_secrets SET last_used_step = @step WHERE user_id = @userId AND (last_used_step IS NULL OR last_used_step < @step)`,
);
const REMOVE = defineStatement<[userId: string]>(`DELETE FROM totp_secrets WHERE user_id = ?`);
const REMOVE_CODES = defineStatement<[userId: string]>(`DELETE FROM totp_backup_codes WHERE user_id = ?`);
const INSERT_CODE = defineStatement<[userId: string, codeHash: string]>(`INSERT INTO totp_backup_codes (user_id, code_hash) VALUES (?, ?)`);
const UNUSED_CODES = defineStatement<[userId: string], { id: number; code_hash: string }>(
  `SELECT id, code_hash FROM totp_backup_codes WHERE user_id = ? AND used_at IS NULL`,
);
const USE_CODE = defineStatement<[now: string, id: number]>(`UPDATE totp_backup_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`);
const COUNT_UNUSED = defineStatement<[userId: string], { n: number }>(`SELECT count(*) AS n FROM totp_backup_codes WHERE user_id = ? AND used_at IS NULL`);

/** TOTP secrets (encrypted by the caller) and hashed single-use backup codes. */
export function createTotpStore(storage: Storage, clock: Clock) {
  const replaceCodes = async (tx: Transaction, userId: string, hashes: string[]): Promise<void> => {
    await tx.run(REMOVE_CODES, [userId]);
    for (const hash of hashes) await tx.run(INSERT_CODE, [userId, hash]);
  };

  return {
    async get(userId: string): Promise<TotpRecord | null> {
      const row = await storage.get(GET, [userId]);
      return row
        ? { userId: row.user_id, secretEncrypted: row.secret_encrypted, enabled: row.enabled === 1, lastUsedStep: row.last_used_step }
        : null;
    },
    /** Stores a pending secret with its backup codes; false when 2FA is already enabled. */
    setPending(userId: string, secretEncrypted: string, codeHashes: string[]): Promise<boolean> {
      return storage.transaction({ durable: true }, async (tx) => {
        if ((await tx.run(UPSERT_PENDING, { userId, secret: secretEncrypted, now: toIso(clock.now()) })).changes !== 1) return false;
        await replaceCodes(tx, userId, codeHashes);
        return true;
      });
    },
    async enable(userId: string, step: number): Promise<boolean> {
      return (await storage.run(ENABLE, [toIso(clock.now()), step, userId])).changes === 1;
    },
    /** Records a step as used; false when it (or a later one) was used already. */
    async consumeStep(userId: string, step: number): Promise<boolean> {
      return (await storage.run(USE_STEP, { step, userId })).changes === 1;
    },
    disable(userId: string): Promise<void> {
      return storage.transaction({ durable: true }, async (tx) => {
        await tx.run(REMOVE, [userId]);
        await tx.run(REMOVE_CODES, [userId]);
      });
    },
    replaceBackupCodes(userId: string, hashes: string[]): Promise<void> {
      return storage.transaction({ durable: true }, (tx) => replaceCodes(tx, userId, hashes));
    },
    async unusedBackupCodes(userId: string): Promise<Array<{ id: number; hash: string }>> {
      return (await storage.all(UNUSED_CODES, [userId])).map((r) => ({ id: r.id, hash: r.code_hash }));
    },
    /** Marks one code used; false if a concurrent request used it first. */
    async consumeBackupCode(id: number): Promise<boolean> {
      return (await storage.run(USE_CODE, [toIso(clock.now()), id])).changes === 1;
    },
    async backupCodesRemaining(userId: string): Promise<number> {
      return (await storage.get(COUNT_UNUSED, [userId]))!.n;
    },
  };
}
export type TotpStore = ReturnType<typeof createTotpStore>;
