import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * Passwords that meet the length policy but appear in zxcvbn's ranked list of passwords
 * seen in breaches (about 18,000 of 8+ characters, well past the top 3,000 ASVS V6.2.4
 * asks for). Compared without case, so `Password1` is as refused as `password1`.
 */
const COMMON = new Set((dictionary['passwords-common'] as string[]).filter((word) => word.length >= 8).map((word) => word.toLowerCase()));

export const COMMON_PASSWORD_MESSAGE = 'This password is too common; choose another';

export function isCommonPassword(password: string): boolean {
  return COMMON.has(password.toLowerCase());
}
