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
