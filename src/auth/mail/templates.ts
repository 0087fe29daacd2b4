/** The texts of the mails the Auth Server sends. */
export function resetPasswordMail(publicUrl: string, token: string): { subject: string; text: string } {
  const link = `${publicUrl.replace(/\/+$/, '')}/reset-password?token=${encodeURIComponent(token)}`;
  return {
    subject: 'Reset your Panguard password',
    text: [
      'Someone asked to reset the password of your Panguard account.',
      '',
      `Open this link within one hour to choose a new password: ${link}`,
      '',
      'If you did not ask for this, ignore this message; your password stays unchanged.',
    ].join('\n'),
  };
}

export function duplicateRegistrationMail(publicUrl: string): { subject: string; text: string } {
  return {
    subject: 'Someone tried to register with your e-mail address',
    text: [
      'Someone tried to create a Panguard account with this e-mail address, which already has one.',
      '',
      'If it was you: sign in instead, or reset your password at',
      `${publicUrl.replace(/\/+$/, '')}/forgot-password`,
      '',
      'If it was not you, no action is needed; nothing was changed.',
    ].join('\n'),
  };
}

/** What a security notice reports; each one goes to the account's own address. */
export type SecurityEvent =
  | { kind: 'password-changed' }
  | { kind: 'password-reset' }
  | { kind: 'totp-enabled' }
  | { kind: 'totp-disabled' }
  | { kind: 'backup-codes-regenerated' }
  | { kind: 'login-locked-for-ip'; failures: number; minutes: number }
  | { kind: 'login-locked-everywhere'; failures: number; minutes: number };

function describe(event: SecurityEvent): { subject: string; what: string } {
  switch (event.kind) {
    case 'password-changed':
      return { subject: 'Your Panguard password was changed', what: 'The password of your Panguard account was changed. Your other sessions were signed out.' };
    case 'password-reset':
      return { subject: 'Your Panguard password was reset', what: 'The password of your Panguard account was reset with an e-mailed link. Every session was signed out.' };
    case 'totp-enabled':
      return { subject: 'Two-factor authentication was turned on', what: 'Two-factor authentication was turned on for your Panguard account.' };
    case 'totp-disabled':
      return { subject: 'Two-factor authentication was turned off', what: 'Two-factor authentication was turned off for your Panguard account. Your other sessions were signed out.' };
    case 'backup-codes-regenerated':
      return { subject: 'New two-factor backup codes were created', what: 'New backup codes were created for your Panguard account; the previous ones no longer work.' };
    case 'login-locked-for-ip':
      return {
        subject: 'Sign-in to your Panguard account was blocked',
        what: `After ${event.failures} failed sign-in attempts, sign-in to your Panguard account from the address below is blocked for up to ${event.minutes} minutes.`,
      };
    case 'login-locked-everywhere':
      return {
        subject: 'Sign-in to your Panguard account was blocked',
        what: `After ${event.failures} failed sign-in attempts from several addresses, sign-in to your Panguard account is blocked from everywhere for up to ${event.minutes} minutes, except from addresses you signed in from in the last 30 days.`,
      };
  }
}

/**
 * A notice after a change to how the account signs in, or a lockout: what happened, when
 * and from where, and what to do if it was not the owner. It never holds a secret.
 */
export function securityNoticeMail(publicUrl: string, event: SecurityEvent, at: string, ip: string): { subject: string; text: string } {
  const { subject, what } = describe(event);
  return {
    subject,
    text: [
      what,
      '',
      `When: ${at} (UTC)`,
      `From IP address: ${ip}`,
      '',
      'If this was you, no action is needed.',
      'If it was not you, reset your password now at',
      `${publicUrl.replace(/\/+$/, '')}/forgot-password`,
      'and check your two-factor settings; if you cannot sign in, contact your administrator.',
    ].join('\n'),
  };
}
