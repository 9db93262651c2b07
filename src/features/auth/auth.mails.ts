import type { MailMessage } from '../../platform/mail/mailer.js';

/**
 * The reset link is built from the configured APP_BASE_URL only, never from request headers
 * (docs/security.md 24), so a forged Host cannot point the emailed link at an attacker's server.
 */
export function resetLinkMail(appBaseUrl: string, to: string, token: string, lifetimeMinutes: number): MailMessage {
  const link = `${appBaseUrl}/reset-password?token=${encodeURIComponent(token)}`;
  return {
    to,
    subject: 'Reset your password',
    text: [
      'Someone asked to reset the password of your Incident Tracker account.',
      '',
      `To choose a new password, open this link within ${lifetimeMinutes} minutes:`,
      link,
      '',
      'The link works once. If you did not ask for it, ignore this message; your password is unchanged.',
    ].join('\n'),
  };
}

export function passwordChangedMail(to: string, how: 'reset' | 'change'): MailMessage {
  return {
    to,
    subject: 'Your password was changed',
    text: [
      how === 'reset'
        ? 'The password of your Incident Tracker account was reset with an emailed link.'
        : 'The password of your Incident Tracker account was changed.',
      'Every other signed-in session has been signed out.',
      '',
      'If this was not you, reset your password now and contact your administrator.',
    ].join('\n'),
  };
}
