import { createRequire } from 'node:module';

type LanguageCommon = typeof import('@zxcvbn-ts/language-common');

/**
 * Passwords that meet the length policy but appear in zxcvbn's ranked list of passwords
 * seen in breaches (about 18,000 of 8+ characters, well past the top 3,000 ASVS V6.2.4
 * asks for). Compared without case, so `Password1` is as refused as `password1`.
 *
 * Built on the first check, not at import: decompressing zxcvbn's dictionaries costs about
 * 100-150 ms, which start-up would otherwise pay although only a new password needs it.
 */
let common: ReadonlySet<string> | null = null;

function commonPasswords(): ReadonlySet<string> {
  if (!common) {
    const { dictionary } = createRequire(import.meta.url)('@zxcvbn-ts/language-common') as LanguageCommon;
    common = new Set((dictionary['passwords-common'] as string[]).filter((word) => word.length >= 8).map((word) => word.toLowerCase()));
  }
  return common;
}

export const COMMON_PASSWORD_MESSAGE = 'This password is too common; choose another';

export function isCommonPassword(password: string): boolean {
  return commonPasswords().has(password.toLowerCase());
}
