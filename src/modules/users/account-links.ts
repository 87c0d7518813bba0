/**
 * The pages mail links open, under PUBLIC_URL. The token travels in the fragment: browsers
 * never send it to a server, so it stays out of access logs, proxies and Referer headers;
 * the page reads it and POSTs it to the matching endpoint:
 *   /account/verify-email        → POST /api/v1/auth/verify-email
 *   /account/reset-password      → POST /api/v1/auth/password-reset/confirm (with the new password)
 *   /account/confirm-email       → POST /api/v1/auth/email-change/confirm
 *   /account/cancel-email-change → POST /api/v1/auth/email-change/cancel
 */
export const ACCOUNT_PAGES = {
  email_verification: "/account/verify-email",
  password_reset: "/account/reset-password",
  email_change: "/account/confirm-email",
  email_change_cancel: "/account/cancel-email-change",
} as const;

export const accountLink = (publicUrl: string, page: keyof typeof ACCOUNT_PAGES, token: string) =>
  `${publicUrl}${ACCOUNT_PAGES[page]}#token=${encodeURIComponent(token)}`;
