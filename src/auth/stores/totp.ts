import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Db } from '../../shared/db/open.js';
import { durableTransaction } from '../../shared/db/durable.js';

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

/** TOTP secrets (encrypted by the caller) and hashed single-use backup codes. */
export function createTotpStore(db: Db, clock: Clock) {
  const get = db.prepare<[string], TotpRow>(`SELECT user_id, secret_encrypted, enabled, last_used_step FROM totp_secrets WHERE user_id = ?`);
  const upsertPending = db.prepare(
    `INSERT INTO totp_secrets (user_id, secret_encrypted, enabled, last_used_step, created_at)
     VALUES (@userId, @secret, 0, NULL, @now)
     ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = @secret, enabled = 0, last_used_step = NULL, created_at = @now, enabled_at = NULL
     WHERE totp_secrets.enabled = 0`,
  );
  const enable = db.prepare(`UPDATE totp_secrets SET enabled = 1, enabled_at = ?, last_used_step = ? WHERE user_id = ? AND enabled = 0`);
  // Only a newer step moves forward: a concurrent replay of the same code finds no row to update.
  const useStep = db.prepare(
    `UPDATE totp_secrets SET last_used_step = @step WHERE user_id = @userId AND (last_used_step IS NULL OR last_used_step < @step)`,
  );
  const remove = db.prepare(`DELETE FROM totp_secrets WHERE user_id = ?`);
  const removeCodes = db.prepare(`DELETE FROM totp_backup_codes WHERE user_id = ?`);
  const insertCode = db.prepare(`INSERT INTO totp_backup_codes (user_id, code_hash) VALUES (?, ?)`);
  const unusedCodes = db.prepare<[string], { id: number; code_hash: string }>(
    `SELECT id, code_hash FROM totp_backup_codes WHERE user_id = ? AND used_at IS NULL`,
  );
  const useCode = db.prepare(`UPDATE totp_backup_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`);
  const countUnused = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM totp_backup_codes WHERE user_id = ? AND used_at IS NULL`);

  const replaceCodes = durableTransaction(db, (userId: string, hashes: string[]) => {
    removeCodes.run(userId);
    for (const hash of hashes) insertCode.run(userId, hash);
  });

  return {
    get(userId: string): TotpRecord | null {
      const row = get.get(userId);
      return row
        ? { userId: row.user_id, secretEncrypted: row.secret_encrypted, enabled: row.enabled === 1, lastUsedStep: row.last_used_step }
        : null;
    },
    /** Stores a pending secret with its backup codes; false when 2FA is already enabled. */
    setPending: durableTransaction(db, (userId: string, secretEncrypted: string, codeHashes: string[]): boolean => {
      if (upsertPending.run({ userId, secret: secretEncrypted, now: toIso(clock.now()) }).changes !== 1) return false;
      replaceCodes(userId, codeHashes);
      return true;
    }),
    enable(userId: string, step: number): boolean {
      return enable.run(toIso(clock.now()), step, userId).changes === 1;
    },
    /** Records a step as used; false when it (or a later one) was used already. */
    consumeStep(userId: string, step: number): boolean {
      return useStep.run({ step, userId }).changes === 1;
    },
    disable: durableTransaction(db, (userId: string) => {
      remove.run(userId);
      removeCodes.run(userId);
    }),
    replaceBackupCodes(userId: string, hashes: string[]): void {
      replaceCodes(userId, hashes);
    },
    unusedBackupCodes(userId: string): Array<{ id: number; hash: string }> {
      return unusedCodes.all(userId).map((r) => ({ id: r.id, hash: r.code_hash }));
    },
    /** Marks one code used; false if a concurrent request used it first. */
    consumeBackupCode(id: number): boolean {
      return useCode.run(toIso(clock.now()), id).changes === 1;
    },
    backupCodesRemaining(userId: string): number {
      return countUnused.get(userId)!.n;
    },
  };
}
export type TotpStore = ReturnType<typeof createTotpStore>;
